/*
 * embed.c — sentence embeddings (embed.h): inputs batched into passes of
 * the encoder (bert) or of the decoder's forward pass, each input's hidden
 * states pooled, then L2-normalised, as llama.cpp (common_embd_normalize)
 * and sentence-transformers (Normalize) do.
 */
#include "embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "encoder.h"
#include "error.h"
#include "model.h"
#include "tokenizer.h"

/* A decoder input is cut into pieces at multiples of this from its start,
 * as the scheduler cuts prompts: each token is then computed in the same
 * chunk class whatever else is in the pass (docs/architecture.md, "Batch
 * invariance"). */
#define EMBED_PIECE_TOKENS INFER_DEFAULT_BATCH_TOKENS

int
embed_dim(const struct model *m)
{
	return m->hp.n_embd;
}

/*
 * The file's pooling_type (llama.cpp's numbers: 1 mean, 2 cls, 3 last);
 * without one, mean for an encoder (sentence-transformers' default) and
 * the last token for a decoder, the only one that has seen the whole input
 * through its causal attention (as Qwen3-Embedding and e5-mistral pool).
 */
enum pooling
embed_pooling(const struct model *m)
{
	switch (m->hp.pooling_type)
	{
		case 1:
			return POOLING_MEAN;
		case 2:
			return POOLING_CLS;
		case 3:
			return POOLING_LAST;
		default:
			return m->arch->encoder ? POOLING_MEAN : POOLING_LAST;
	}
}

const char *
pooling_name(enum pooling p)
{
	switch (p)
	{
		case POOLING_MEAN:
			return "mean";
		case POOLING_CLS:
			return "cls";
		case POOLING_LAST:
			return "last";
	}
	return "?";
}

/* An encoder's positions end with its position embeddings; a decoder's
 * with the context it was trained for. */
int32_t
embed_max_tokens(const struct model *m)
{
	return m->hp.n_ctx_train;
}

int
embed_tokenize(const struct model *m, const char *text, size_t len, struct token_list *out,
			   char *err)
{
	const struct tokenizer *t = m->tok;
	bool		wordpiece = tokenizer_is_wordpiece(t);

	if ((wordpiece || tokenizer_add_bos(t)) && tokenizer_bos(t) >= 0)
		token_list_push(out, tokenizer_bos(t));
	if (tokenizer_encode(t, text, len, false, out, err) != 0)
		return -1;
	if (wordpiece)
		token_list_push(out, tokenizer_sep(t));
	return 0;
}

void
embed_truncate(const struct model *m, struct token_list *ids, int32_t max)
{
	if (max < 1 || ids->n <= (size_t) max)
		return;
	if (tokenizer_is_wordpiece(m->tok))
		ids->ids[max - 1] = ids->ids[ids->n - 1];
	ids->n = (size_t) max;
}

static int
check_inputs(const struct infer_ctx *ic, const struct token_list *inputs, int n, char *err)
{
	const struct model *m = ic->model;
	int32_t		max = embed_max_tokens(m) < ic->n_ctx ? embed_max_tokens(m) : ic->n_ctx;

	for (int i = 0; i < n; i++)
	{
		if (inputs[i].n == 0)
			return err_set(err, "embed: input %d has no tokens", i);
		if (inputs[i].n > (size_t) max)
			return err_set(err, "embed: input %d has %zu tokens, the model takes at most %d",
						   i, inputs[i].n, max);
		for (size_t j = 0; j < inputs[i].n; j++)
			if (inputs[i].ids[j] < 0 || inputs[i].ids[j] >= m->hp.n_vocab)
				return err_set(err, "embed: token id %d of input %d is outside the vocabulary (0..%d)",
							   inputs[i].ids[j], i, m->hp.n_vocab - 1);
	}
	return 0;
}

/*
 * Pool the hidden rows of tokens [from, from + count) of an input of len
 * tokens into its output row: mean sums them (scaled once the input is
 * done, in normalize), cls takes token 0, last the final token.
 */
static void
pool_piece(enum pooling p, const float *rows, int32_t from, int32_t count, int32_t len, int d,
		   float *acc)
{
	if (p == POOLING_MEAN)
		for (int32_t t = 0; t < count; t++)
			for (int i = 0; i < d; i++)
				acc[i] += rows[(size_t) t * d + i];
	else if (p == POOLING_CLS && from == 0)
		memcpy(acc, rows, d * sizeof(float));
	else if (p == POOLING_LAST && from + count == len)
		memcpy(acc, rows + (size_t) (count - 1) * d, d * sizeof(float));
}

/* The mean's division, then the L2 norm (summed in double, as llama.cpp). */
static void
normalize(enum pooling p, int32_t len, int d, float *row)
{
	double		sum = 0.0;
	float		scale;

	if (p == POOLING_MEAN)
		for (int i = 0; i < d; i++)
			row[i] *= 1.0f / (float) len;
	for (int i = 0; i < d; i++)
		sum += (double) row[i] * row[i];
	scale = sum > 0.0 ? (float) (1.0 / sqrt(sum)) : 0.0f;
	for (int i = 0; i < d; i++)
		row[i] *= scale;
}

/* bert: whole inputs, as many as fit in a pass. */
static void
embed_encoder(struct infer_ctx *ic, const struct token_list *inputs, int n, float *out)
{
	enum pooling p = embed_pooling(ic->model);
	int			d = embed_dim(ic->model);

	for (int first = 0, end; first < n; first = end)
	{
		int64_t		T = 0;
		const float *hidden;

		for (end = first; end < n && T + (int64_t) inputs[end].n <= ic->max_batch_tokens; end++)
			T += (int64_t) inputs[end].n;
		hidden = encoder_forward(ic, inputs + first, end - first);
		for (int i = first; i < end; i++)
		{
			int32_t		len = (int32_t) inputs[i].n;

			pool_piece(p, hidden, 0, len, len, d, out + (size_t) i * d);
			normalize(p, len, d, out + (size_t) i * d);
			hidden += (size_t) len * d;
		}
	}
}

/* A decoder input's progress: its KV sequence (reserved whole when it
 * starts, so a started input always finishes) and the tokens done. */
struct dec_input
{
	struct kv_seq seq;
	int32_t		done;
	bool		started;
};

/*
 * Add the next piece of input i to the pass; false when it does not fit
 * (tokens, or KV space for a new input).
 */
static bool
add_piece(struct infer_ctx *ic, const struct token_list *in, struct dec_input *st,
		  struct seq_batch *batch, int *n_b, int32_t *T)
{
	int32_t		left = (int32_t) in->n - st->done;
	int32_t		most = ic->max_batch_tokens < EMBED_PIECE_TOKENS ? ic->max_batch_tokens : EMBED_PIECE_TOKENS;
	int32_t		piece = left < most ? left : most;

	if (*T + piece > ic->max_batch_tokens)
		return false;
	if (!st->started && kv_seq_reserve(ic->kv, &st->seq, (int32_t) in->n) != 0)
		return false;
	st->started = true;
	batch[(*n_b)++] = (struct seq_batch) {.seq = &st->seq, .tokens = in->ids + st->done, .n_tokens = piece};
	*T += piece;
	return true;
}

/* One pass: a piece of every started input, then new inputs while they fit. */
static int
decoder_pass(struct infer_ctx *ic, const struct token_list *inputs, int n, struct dec_input *st,
			 int *next, struct seq_batch *batch, int *owner, float *out, char *err)
{
	enum pooling p = embed_pooling(ic->model);
	int			d = embed_dim(ic->model);
	int			n_b = 0;
	int32_t		T = 0;
	const float *hidden;
	int			rc;

	for (int i = 0; i < *next; i++)
		if (st[i].started && st[i].done < (int32_t) inputs[i].n &&
			add_piece(ic, &inputs[i], &st[i], batch, &n_b, &T))
			owner[n_b - 1] = i;
	for (; *next < n && add_piece(ic, &inputs[*next], &st[*next], batch, &n_b, &T); (*next)++)
		owner[n_b - 1] = *next;
	if (n_b == 0)
		return err_set(err, "embed: input %d (%zu tokens) does not fit in the KV cache (%d blocks of %d)",
					   *next, inputs[*next].n, ic->kv->n_blocks, KV_BLOCK_TOKENS);
	rc = infer_forward_hidden(ic, batch, n_b, &hidden, err);
	if (rc != 0)
		return rc;
	for (int b = 0; b < n_b; b++)
	{
		int			i = owner[b];
		int32_t		len = (int32_t) inputs[i].n;

		pool_piece(p, hidden, st[i].done, batch[b].n_tokens, len, d, out + (size_t) i * d);
		st[i].done += batch[b].n_tokens;
		hidden += (size_t) batch[b].n_tokens * d;
		if (st[i].done == len)
		{
			normalize(p, len, d, out + (size_t) i * d);
			kv_seq_release(ic->kv, &st[i].seq);
		}
	}
	return 0;
}

/* llama, qwen2: pieces of the inputs through the forward pass, the KV
 * cache carrying an input from one pass to the next. */
static int
embed_decoder(struct infer_ctx *ic, const struct token_list *inputs, int n, float *out, char *err)
{
	struct dec_input *st = xcalloc((size_t) n, sizeof *st);
	struct seq_batch *batch = xcalloc((size_t) n, sizeof *batch);
	int		   *owner = xcalloc((size_t) n, sizeof *owner);
	int			next = 0;
	int			rc = 0;
	bool		busy = true;

	while (rc == 0 && busy)
	{
		rc = decoder_pass(ic, inputs, n, st, &next, batch, owner, out, err);
		busy = next < n;
		for (int i = 0; i < next && !busy; i++)
			busy = st[i].done < (int32_t) inputs[i].n;
	}
	for (int i = 0; i < n; i++)
		kv_seq_release(ic->kv, &st[i].seq);
	free(st);
	free(batch);
	free(owner);
	return rc == 0 ? 0 : -1;
}

int
embed_batch(struct infer_ctx *ic, const struct token_list *inputs, int n, float *out, char *err)
{
	if (check_inputs(ic, inputs, n, err) != 0)
		return -1;
	memset(out, 0, (size_t) n * embed_dim(ic->model) * sizeof(float));
	if (ic->model->arch->encoder)
	{
		embed_encoder(ic, inputs, n, out);
		return 0;
	}
	return embed_decoder(ic, inputs, n, out, err);
}
