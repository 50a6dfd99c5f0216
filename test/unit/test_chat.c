/*
 * test_chat.c — chat styles against the real templates' renderings, and the
 * reasoning split.
 *
 * test/golden/chat-*.txt come from test/reference/render-chat.py, which
 * renders CONVERSATIONS below (the two copies must stay in step) with each
 * model's Jinja template.  The goldens carry the template text too, so the
 * comparisons need no model file; where a model is present, its template
 * is checked against the golden copy.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "check.h"
#include "error.h"
#include "gguf.h"

#define GOLDEN_DIR "test/golden"

#define MSG(r, c) {r, c}
#define CONV(agp, ...) \
	{(const struct chat_message[]){__VA_ARGS__}, \
	 sizeof((const struct chat_message[]){__VA_ARGS__}) / sizeof(struct chat_message), agp}

struct conversation
{
	const struct chat_message *msgs;
	size_t		n;
	bool		add_generation_prompt;
};

static const struct conversation conversations[] = {
	CONV(true, MSG("user", "What is 2+2?")),
	CONV(true, MSG("system", "You are a SQL expert. Answer with SQL only."),
		 MSG("user", "List all tables.")),
	CONV(true, MSG("user", "Hi"),
		 MSG("assistant", "Hello! How can I help?"),
		 MSG("user", "Tell me a joke.")),
	CONV(true, MSG("user", "What is 3*7?"),
		 MSG("assistant", "<think>\nLet me compute 3*7.\n</think>\n\n21"),
		 MSG("user", "And 3*8?")),
	CONV(true, MSG("system", "  Réponds en français.\n"),
		 MSG("user", "Qu'est-ce que 日本語? 🙂\nLine two\n\n"),
		 MSG("assistant", "\u3000C'est du japonais.\u00a0 "),
		 MSG("user", "Merci\t")),
	CONV(true, MSG("user", "first"),
		 MSG("system", "mid-conversation rule"),
		 MSG("user", "second")),
	CONV(false, MSG("user", "Classify: great product!"),
		 MSG("assistant", "positive")),
	CONV(true, MSG("system", "S1"),
		 MSG("system", "S2"),
		 MSG("user", "q"),
		 MSG("assistant", "<think>x</think>mid</think>\nend")),
};

#define N_CONVERSATIONS (sizeof(conversations) / sizeof(conversations[0]))

/* What each golden model's template must be recognised as. */
static const struct
{
	const char *name;
	enum chat_style style;
	const char *default_system;
}			expected[] = {
	{"smollm2", CHAT_CHATML,
	 "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
	{"qwen2.5-coder", CHAT_CHATML,
	 "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."},
	{"deepseek-r1-distill-qwen", CHAT_DEEPSEEK_R1, NULL},
	{"llama3", CHAT_LLAMA3, NULL},
	{"qwen3", CHAT_QWEN3, NULL},
};

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	long		size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
		fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t) size + 1)) != NULL)
	{
		*len = fread(buf, 1, (size_t) size, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_conversation(const char *name, enum chat_style style, const char *default_system,
				   const char *bos, size_t i)
{
	char		path[512];
	char	   *want;
	size_t		want_len = 0;
	struct text_buf got = {0};
	size_t		at = 0;

	snprintf(path, sizeof(path), GOLDEN_DIR "/chat-%s-%zu.txt", name, i + 1);
	want = read_file(path, &want_len);
	CHECK(want != NULL, "cannot read %s", path);
	if (want == NULL)
		return;
	chat_render(style, conversations[i].msgs, conversations[i].n,
				conversations[i].add_generation_prompt, default_system, bos, &got);
	while (at < got.len && at < want_len && got.s[at] == want[at])
		at++;
	CHECK(got.len == want_len && at == want_len,
		  "%s: rendered %zu bytes, golden %zu; first difference at byte %zu",
		  path, got.len, want_len, at);
	text_buf_free(&got);
	free(want);
}

static void
check_model(const char *name, const char *bos)
{
	char		path[512];
	char	   *tmpl;
	size_t		len = 0;
	enum chat_style style;
	char	   *def;

	snprintf(path, sizeof(path), GOLDEN_DIR "/chat-%s-template.txt", name);
	tmpl = read_file(path, &len);
	CHECK(tmpl != NULL, "cannot read %s", path);
	if (tmpl == NULL)
		return;
	style = chat_style_detect(tmpl, len);
	def = chat_default_system(tmpl, len);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (strcmp(expected[i].name, name) == 0)
		{
			CHECK(style == expected[i].style, "%s: style %s", name, chat_style_name(style));
			CHECK(str_eq(def, expected[i].default_system), "%s: default system \"%s\"",
				  name, def ? def : "(none)");
		}
	for (size_t i = 0; i < N_CONVERSATIONS; i++)
		check_conversation(name, style, def, bos, i);
	free(def);
	free(tmpl);
}

/* Every model in the manifest ("NAME<TAB>BOS text" lines). */
static void
test_goldens(void)
{
	size_t		len = 0;
	char	   *manifest = read_file(GOLDEN_DIR "/chat-manifest.txt", &len);
	char	   *line;
	char	   *save = NULL;
	int			models = 0;

	CHECK(manifest != NULL, "cannot read " GOLDEN_DIR "/chat-manifest.txt "
		  "(run test/reference/render-chat.py)");
	if (manifest == NULL)
		return;
	for (line = strtok_r(manifest, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *tab = strchr(line, '\t');

		CHECK(tab != NULL, "manifest line without a tab: %s", line);
		if (tab == NULL)
			continue;
		*tab = '\0';
		check_model(line, tab + 1);
		models++;
	}
	CHECK(models >= 2, "only %d models in the manifest", models);
	free(manifest);
}

/* Where a model file is present, its template is the golden copy. */
static void
test_model_templates(void)
{
	static const char *const files[][2] = {
		{"smollm2", "SmolLM2-135M-Instruct-Q4_1.gguf"},
		{"qwen2.5-coder", "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"},
	};
	const char *cache = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		char		path[1024];
		char		golden[512];
		char		err[ERR_MAX] = "";
		struct gguf_file *g;
		struct gguf_str tmpl;
		char	   *want;
		size_t		want_len = 0;
		FILE	   *f;

		if (cache && cache[0])
			snprintf(path, sizeof(path), "%s/%s", cache, files[i][1]);
		else
			snprintf(path, sizeof(path), "%s/.cache/deepseek_r1/models/%s",
					 home ? home : "", files[i][1]);
		if ((f = fopen(path, "rb")) == NULL)
		{
			check_missing("template of %s: %s absent", files[i][0], path);
			continue;
		}
		fclose(f);
		g = gguf_open(path, err);
		CHECK(g != NULL, "%s: %s", path, err);
		if (g == NULL)
			continue;
		snprintf(golden, sizeof(golden), GOLDEN_DIR "/chat-%s-template.txt", files[i][0]);
		want = read_file(golden, &want_len);
		CHECK(gguf_get_str(g, "tokenizer.chat_template", &tmpl), "%s: no template", path);
		CHECK(want && tmpl.len == want_len && memcmp(tmpl.ptr, want, want_len) == 0,
			  "%s: template differs from %s", path, golden);
		free(want);
		gguf_close(g);
	}
}

static void
test_detect(void)
{
	static const char r1[] = "{{bos_token}}{{'<｜User｜>' + message['content']}}";
	static const char r1_assistant[] = "{{'<｜Assistant｜>'}}";
	static const char llama[] = "{{ '<|start_header_id|>' + message['role'] }}";
	static const char chatml[] = "{{'<|im_start|>' + message['role'] + '\\n'}}";

	CHECK(chat_style_detect(NULL, 0) == CHAT_CHATML, "NULL template");
	CHECK(chat_style_detect("", 0) == CHAT_CHATML, "empty template");
	CHECK(chat_style_detect(r1, strlen(r1)) == CHAT_DEEPSEEK_R1, "R1 user marker");
	CHECK(chat_style_detect(r1_assistant, strlen(r1_assistant)) == CHAT_DEEPSEEK_R1,
		  "R1 assistant marker");
	CHECK(chat_style_detect(llama, strlen(llama)) == CHAT_LLAMA3, "Llama 3 marker");
	CHECK(chat_style_detect(chatml, strlen(chatml)) == CHAT_CHATML, "ChatML marker");
	/* only the first len bytes count */
	CHECK(chat_style_detect(llama, 5) == CHAT_CHATML, "length respected");
	CHECK(strcmp(chat_style_name(CHAT_DEEPSEEK_R1), "deepseek-r1") == 0, "style name");
}

static void
check_default(const char *tmpl, const char *want)
{
	char	   *got = chat_default_system(tmpl, tmpl ? strlen(tmpl) : 0);

	CHECK(str_eq(got, want), "default system of [%s]: got \"%s\", want \"%s\"",
		  tmpl ? tmpl : "NULL", got ? got : "(none)", want ? want : "(none)");
	free(got);
}

static void
test_default_system(void)
{
	check_default(NULL, NULL);
	check_default("{{ '<|im_start|>' + message['role'] }}", NULL);
	/* the template writing the caller's system message is no default */
	check_default("{{- '<|im_start|>system\\n' + messages[0]['content'] }}", NULL);
	check_default("{{- '<|im_start|>system\\n' }}{{- 'x' }}"
				  "{{- '<|im_start|>system\\nYou are X.' }}", "You are X.");
	check_default("{{ '<|im_start|>system\nReal newline.<|im_end|>\n' }}", "Real newline.");
	check_default("{{ \"<|im_start|>system\\nSay \\\"hi\\\"\\tnow<|im_end|>\\n\" }}",
				  "Say \"hi\"\tnow");
	check_default("{{ '<|im_start|>system\\nIt\\'s \\x41' }}", "It's \\x41");
	/* a literal that never closes is ignored */
	check_default("{{ '<|im_start|>system\\nunterminated", NULL);
}

static void
check_split(const char *text, bool started, const char *want_reasoning,
			const char *want_answer)
{
	struct text_buf r = {0};
	struct text_buf a = {0};

	chat_split_reasoning(text, strlen(text), started, &r, &a);
	CHECK(r.len == strlen(want_reasoning) && memcmp(r.s ? r.s : "", want_reasoning, r.len) == 0,
		  "reasoning of [%s]: got [%.*s], want [%s]", text, (int) r.len, r.s ? r.s : "",
		  want_reasoning);
	CHECK(a.len == strlen(want_answer) && memcmp(a.s ? a.s : "", want_answer, a.len) == 0,
		  "answer of [%s]: got [%.*s], want [%s]", text, (int) a.len, a.s ? a.s : "",
		  want_answer);
	text_buf_free(&r);
	text_buf_free(&a);
}

static void
test_split_reasoning(void)
{
	/* no think: all answer, untouched */
	check_split("  Hello\n", false, "", "  Hello\n");
	check_split("", false, "", "");
	/* complete think: reasoning trimmed both ends, answer's leading blanks dropped */
	check_split("<think>\nStep 1.\nStep 2.\n</think>\n\nThe answer.\n", false,
				"Step 1.\nStep 2.", "The answer.\n");
	check_split("\n <think> \t\r\nx\r\n</think> \t\r\ny z ", false, "x", "y z ");
	check_split("<think></think>answer", false, "", "answer");
	/* only the first </think> ends the reasoning */
	check_split("<think>a</think>b</think>c", false, "a", "b</think>c");
	/* unterminated think: all reasoning */
	check_split("<think>\nstill going", false, "still going", "");
	/* the prompt opened the think */
	check_split("Reason.\n</think>\n\nAnswer", true, "Reason.", "Answer");
	check_split("Reason, cut off\n", true, "Reason, cut off", "");
	check_split("<think>\nrepeated open</think>ok", true, "repeated open", "ok");
	/* a close without an open still splits */
	check_split("abc</think>def", false, "abc", "def");
	/* only blanks are trimmed, not other characters */
	check_split("<think>\u00a0x\u00a0</think>\u00a0y", false, "\u00a0x\u00a0", "\u00a0y");
	/* an opening tag that is not at the start is text */
	check_split("a <think>b", false, "", "a <think>b");
}

/* Behaviour the goldens do not pin down. */
static void
test_render_edges(void)
{
	static const struct chat_message nulls[] = {{"user", NULL}, {"assistant", NULL}};
	struct text_buf b = {0};
	const char *want_r1 = "<BOS><｜User｜><｜Assistant｜><｜end▁of▁sentence｜><｜Assistant｜>";

	chat_render(CHAT_CHATML, NULL, 0, true, "Default", NULL, &b);
	CHECK(b.len == strlen("<|im_start|>assistant\n") &&
		  memcmp(b.s, "<|im_start|>assistant\n", b.len) == 0,
		  "empty ChatML conversation: [%.*s]", (int) b.len, b.s);
	text_buf_free(&b);

	memset(&b, 0, sizeof(b));
	chat_render(CHAT_DEEPSEEK_R1, nulls, 2, true, NULL, "<BOS>", &b);
	CHECK(b.len == strlen(want_r1) && memcmp(b.s, want_r1, b.len) == 0,
		  "R1 with NULL contents: [%.*s]", (int) b.len, b.s);
	text_buf_free(&b);

	memset(&b, 0, sizeof(b));
	chat_render(CHAT_LLAMA3, nulls, 1, false, NULL, NULL, &b);
	CHECK(b.len == strlen("<|start_header_id|>user<|end_header_id|>\n\n<|eot_id|>"),
		  "Llama 3 without BOS text: [%.*s]", (int) b.len, b.s);
	text_buf_free(&b);
}

int
main(void)
{
	test_detect();
	test_default_system();
	test_goldens();
	test_model_templates();
	test_split_reasoning();
	test_render_edges();
	return check_done("chat");
}
