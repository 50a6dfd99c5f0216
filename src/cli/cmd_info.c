/*
 * cmd_info.c — `deepseek-r1 info`: what a model file holds, as one JSON object.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "embed.h"
#include "error.h"
#include "gguf.h"
#include "model.h"

static void
print_tensor_types(const struct gguf_file *f)
{
	int64_t		count[DTYPE_COUNT] = {0};
	bool		first = true;

	for (uint64_t i = 0; i < gguf_tensor_count(f); i++)
	{
		uint32_t	t = gguf_tensor_at(f, i)->type;

		if (t < DTYPE_COUNT)
			count[t]++;
	}
	printf("\"tensor_types\":{");
	for (int t = 0; t < DTYPE_COUNT; t++)
		if (count[t])
		{
			printf("%s\"%s\":%lld", first ? "" : ",", dtype_name(t), (long long) count[t]);
			first = false;
		}
	printf("}");
}

static int64_t
count_parameters(const struct gguf_file *f)
{
	int64_t		n = 0;

	for (uint64_t i = 0; i < gguf_tensor_count(f); i++)
	{
		const struct gguf_tensor *t = gguf_tensor_at(f, i);

		n += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
	}
	return n;
}

int
cmd_info(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct model *m = model_load(o->model, err);
	const struct hparams *hp;
	struct gguf_str pre = {"", 0};

	if (!m)
		return cli_fail("%s", err);
	hp = &m->hp;
	gguf_get_str(m->file, "tokenizer.ggml.pre", &pre);
	printf("{\"architecture\":\"%s\",\"name\":", m->arch->name);
	json_string(stdout, m->name ? m->name : "", m->name ? strlen(m->name) : 0);
	printf(",\"parameters\":%lld,\"file_size\":%llu,",
		   (long long) count_parameters(m->file), (unsigned long long) gguf_file_size(m->file));
	print_tensor_types(m->file);
	printf(",\"context_length\":%d,\"n_vocab\":%d,\"n_layer\":%d,\"n_head\":%d,\"n_head_kv\":%d,"
		   "\"embedding_length\":%d,\"feed_forward_length\":%d,\"head_dim\":%d,"
		   "\"rope_freq_base\":%g,\"rms_norm_eps\":%g,\"output_tied\":%s,",
		   hp->n_ctx_train, hp->n_vocab, hp->n_layer, hp->n_head, hp->n_head_kv,
		   hp->n_embd, hp->n_ff, hp->head_dim, hp->rope_base, hp->rms_eps,
		   m->output_tied ? "true" : "false");
	printf("\"chat_template\":\"%s\",\"tokenizer_pre\":", chat_style_name(m->chat));
	json_string(stdout, pre.ptr, pre.len);
	printf(",\"bos_token_id\":%d,\"eos_token_id\":%d,\"add_bos_token\":%s,\"pooling\":\"%s\"}\n",
		   tokenizer_bos(m->tok), tokenizer_eos(m->tok), tokenizer_add_bos(m->tok) ? "true" : "false",
		   pooling_name(embed_pooling(m)));
	model_free(m);
	return 0;
}
