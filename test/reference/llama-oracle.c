/*
 * llama-oracle.c — produce reference data with llama.cpp (our own program
 * linking against an out-of-tree llama.cpp build; see build-llama-cpp.sh).
 *
 *   llama-oracle MODEL N_PREDICT raw|special [LOGITS_FILE [ROUTING_FILE]] < prompt-text
 *
 * raw: tokenized as a plain prompt (BOS per the model, no control tokens);
 * special: the text is an already rendered chat template (control tokens
 * parsed, no BOS added).  Greedy decoding (lowest id on ties) for N_PREDICT
 * tokens or until an end-of-generation token.  Prints one JSON object:
 * prompt_ids, ids, and margins (top-1 minus top-2 logit at each step).
 * With LOGITS_FILE, also writes the logits after the prompt, one per line.
 * With ROUTING_FILE (a mixture-of-experts model), also the experts each MoE
 * layer chose for each token of the prompt, read from llama.cpp's graph
 * (its ffn_moe_topk-LAYER tensors, through the eval callback): one line
 * "LAYER TOKEN EXPERT..." per row, best first.  llama.cpp runs the last
 * layer's feed-forward block on the output row only, so that layer has one.
 *
 * Settings chosen to be those our CPU backend mirrors: F16 KV cache,
 * flash attention off, one sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "llama.h"

/* Where the prompt's routing goes; NULL once the prompt is done. */
struct routing_capture
{
	FILE	   *out;
};

static bool
capture_routing(struct ggml_tensor *t, bool ask, void *data)
{
	struct routing_capture *rc = data;
	int			layer;

	if (!rc->out || strncmp(t->name, "ffn_moe_topk-", 13) != 0)
		return !ask;
	if (ask)
		return true;
	layer = atoi(t->name + 13);
	/* a view of the sorted indices: rows nb[1] apart; the CPU's memory */
	for (int64_t tok = 0; tok < t->ne[1]; tok++)
	{
		fprintf(rc->out, "%d %lld", layer, (long long) tok);
		for (int64_t k = 0; k < t->ne[0]; k++)
			fprintf(rc->out, " %d", *(const int32_t *) ((const char *) t->data + k * t->nb[0] + tok * t->nb[1]));
		fputc('\n', rc->out);
	}
	return true;
}

static void
quiet_log(enum ggml_log_level level, const char *text, void *data)
{
	(void) data;
	if (level == GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

static char *
read_stdin(int *len)
{
	size_t		cap = 1 << 16, n = 0, k;
	char	   *buf = malloc(cap);

	while ((k = fread(buf + n, 1, cap - n, stdin)) > 0)
	{
		n += k;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	*len = (int) n;
	return buf;
}

static void
top2(const float *logits, int n, int *best, float *margin)
{
	int			b = 0;
	float		second = -1e30f;

	for (int i = 1; i < n; i++)
		if (logits[i] > logits[b])
			b = i;
	for (int i = 0; i < n; i++)
		if (i != b && logits[i] > second)
			second = logits[i];
	*best = b;
	*margin = logits[b] - second;
}

int
main(int argc, char **argv)
{
	int			text_len;
	char	   *text;
	int			n_predict;
	int			special;
	struct llama_model_params mp;
	struct llama_context_params cp;
	struct llama_model *model;
	struct llama_context *ctx;
	const struct llama_vocab *vocab;
	int			n_vocab;
	llama_token *prompt;
	int			n_prompt;
	llama_token tok;
	struct routing_capture routing = {NULL};

	if (argc < 4)
	{
		fprintf(stderr, "usage: llama-oracle MODEL N_PREDICT raw|special [LOGITS_FILE [ROUTING_FILE]] < text\n");
		return 2;
	}
	n_predict = atoi(argv[2]);
	special = strcmp(argv[3], "special") == 0;
	text = read_stdin(&text_len);
	llama_log_set(quiet_log, NULL);
	llama_backend_init();
	mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	model = llama_model_load_from_file(argv[1], mp);
	if (!model)
		return 1;
	vocab = llama_model_get_vocab(model);
	n_vocab = llama_vocab_n_tokens(vocab);
	prompt = malloc((text_len + 16) * sizeof(llama_token));
	n_prompt = llama_tokenize(vocab, text, text_len, prompt, text_len + 16, !special, special);
	if (n_prompt < 0)
		return 1;

	cp = llama_context_default_params();
	cp.n_ctx = n_prompt + n_predict + 16;
	cp.n_batch = cp.n_ubatch = 512;
	cp.n_threads = cp.n_threads_batch = 2;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.no_perf = true;
	if (argc > 5)
	{
		routing.out = fopen(argv[5], "w");
		if (!routing.out)
			return 1;
		cp.cb_eval = capture_routing;
		cp.cb_eval_user_data = &routing;
	}
	ctx = llama_init_from_model(model, cp);
	if (!ctx)
		return 1;

	printf("{\"prompt_ids\":[");
	for (int i = 0; i < n_prompt; i++)
		printf(i ? ",%d" : "%d", prompt[i]);
	printf("],\"ids\":[");
	{
		char	   *margins = malloc((size_t) 32 * (n_predict + 1));
		size_t		mlen = 0;

		margins[0] = '\0';
		for (int done = 0; done < n_prompt; done += 512)
		{
			int			k = n_prompt - done < 512 ? n_prompt - done : 512;

			if (llama_decode(ctx, llama_batch_get_one(prompt + done, k)) != 0)
				return 1;
		}
		if (routing.out)
		{
			fclose(routing.out);
			routing.out = NULL;
		}
		if (argc > 4)
		{
			FILE	   *lf = fopen(argv[4], "w");
			const float *lg = llama_get_logits_ith(ctx, -1);

			for (int i = 0; i < n_vocab; i++)
				fprintf(lf, "%.9g\n", lg[i]);
			fclose(lf);
		}
		for (int i = 0; i < n_predict; i++)
		{
			float		margin;
			int			best;

			top2(llama_get_logits_ith(ctx, -1), n_vocab, &best, &margin);
			mlen += sprintf(margins + mlen, i ? ",%.6g" : "%.6g", margin);
			if (llama_vocab_is_eog(vocab, best))
				break;
			printf(i ? ",%d" : "%d", best);
			tok = best;
			if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0)
				return 1;
		}
		printf("],\"margins\":[%s]}\n", margins);
		free(margins);
	}
	llama_free(ctx);
	llama_model_free(model);
	free(prompt);
	free(text);
	return 0;
}
