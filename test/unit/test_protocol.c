/*
 * test_protocol.c — the wire format (src/protocol): payloads round trip and
 * every malformed one is refused; the outgoing queue never blocks and
 * shrinks back; the incoming buffer reassembles frames from any split,
 * skips an oversized frame and shrinks back after a large one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "protocol.h"

static struct dr1_str
str(const char *s)
{
	return (struct dr1_str) {s, (uint32_t) strlen(s)};
}

static bool
str_is(struct dr1_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.s, want, s.len) == 0;
}

static void
test_submit(void)
{
	struct dr1_submit h = {.kind = DR1_REQ_COMPLETE, .flags = DR1_FLAG_SCHEMA, .max_tokens = 7,
	.n_messages = 2, .n_stops = 1, .n_choices = 1, .n_ids = 2};
	struct dr1_str strs[] = {str("system"), str("be brief"), str("user"), str("hi"), str("\n"),
	str("yes"), str("{\"type\":\"null\"}")};
	int32_t		ids[] = {5, -1};
	struct dr1_buf b = {0};
	struct dr1_submit_msg m;
	int32_t		got[2];
	const char *p;
	uint32_t	len;

	dr1_submit_encode(&b, &h, strs, ids);
	CHECK(!b.failed, "encode");
	CHECK(dr1_submit_decode(b.data, b.len, &m), "a SUBMIT decodes");
	CHECK(m.h.max_tokens == 7 && m.n_strings == 7, "header, %u strings (the schema last)",
		  m.n_strings);
	for (uint32_t i = 0; i < m.n_strings; i++)
		CHECK(dr1_get_str(&m.strings, &p, &len) && len == strs[i].len &&
			  memcmp(p, strs[i].s, len) == 0, "string %u", i);
	memcpy(got, m.ids, sizeof got);
	CHECK(got[0] == 5 && got[1] == -1, "ids");

	/* every strict prefix, and one byte more, is malformed */
	for (size_t n = 0; n < b.len; n++)
		CHECK(!dr1_submit_decode(b.data, n, &m), "a SUBMIT cut at %zu is refused", n);
	dr1_buf_put(&b, "", 1);
	CHECK(!dr1_submit_decode(b.data, b.len, &m), "trailing bytes are refused");
	dr1_buf_free(&b);

	/* counts that would wrap, an unknown kind, a NUL in a string */
	h = (struct dr1_submit) {.kind = DR1_REQ_COMPLETE, .n_messages = 0x80000000u, .n_stops = 0};
	dr1_submit_encode(&b, &(struct dr1_submit) {.kind = DR1_REQ_TOKENIZE}, NULL, NULL);
	memcpy(b.data, &h, sizeof h);
	CHECK(!dr1_submit_decode(b.data, b.len, &m), "a count that wraps is refused");
	h.n_messages = 0;
	h.kind = 99;
	memcpy(b.data, &h, sizeof h);
	CHECK(!dr1_submit_decode(b.data, b.len, &m), "an unknown kind is refused");
	dr1_buf_free(&b);
	h = (struct dr1_submit) {.kind = DR1_REQ_TOKENIZE, .n_messages = 1};
	dr1_submit_encode(&b, &h, (struct dr1_str[]) {str("user"), {"a\0b", 3}}, NULL);
	CHECK(!dr1_submit_decode(b.data, b.len, &m), "a NUL byte in a string is refused");
	dr1_buf_free(&b);
	h = (struct dr1_submit) {.kind = DR1_REQ_DETOKENIZE, .n_ids = 0x40000001u};
	dr1_submit_encode(&b, &(struct dr1_submit) {.kind = DR1_REQ_DETOKENIZE}, NULL, NULL);
	memcpy(b.data, &h, sizeof h);
	CHECK(!dr1_submit_decode(b.data, b.len, &m), "ids beyond the payload are refused");
	dr1_buf_free(&b);
}

static void
test_answers(void)
{
	struct dr1_done d = {.finish = DR1_FINISH_STOP, .n_prompt = 3, .n_ids = 1};
	int32_t		id = 42;
	struct dr1_buf b = {0};
	struct dr1_done_msg m;
	uint32_t	code;
	struct dr1_str msg;
	struct dr1_stats st;
	int32_t		v;

	dr1_done_encode(&b, &d, &id, NULL, str("<think>x</think>y"), str("y"), str("x"));
	CHECK(dr1_done_decode(b.data, b.len, &m), "a DONE decodes");
	CHECK(m.d.n_prompt == 3 && str_is(m.text, "<think>x</think>y") && str_is(m.content, "y") &&
		  str_is(m.reasoning, "x"), "its fields");
	dr1_buf_free(&b);

	{
		const float emb[3] = {0.6f, -0.8f, 0.0f};
		float		got[3];

		d = (struct dr1_done) {.finish = DR1_FINISH_STOP, .n_floats = 3};
		dr1_done_encode(&b, &d, NULL, emb, str(""), str(""), str(""));
		CHECK(dr1_done_decode(b.data, b.len, &m), "a DONE with floats decodes");
		memcpy(got, m.floats, sizeof got);
		CHECK(m.d.n_floats == 3 && memcmp(got, emb, sizeof emb) == 0, "its floats round-trip");
		d.n_floats = 4;
		memcpy(b.data, &d, sizeof d);
		CHECK(!dr1_done_decode(b.data, b.len, &m), "more floats than sent are refused");
		dr1_buf_free(&b);
	}
	d = (struct dr1_done) {.finish = DR1_FINISH_STOP, .n_prompt = 3, .n_ids = 1};
	dr1_done_encode(&b, &d, &id, NULL, str("<think>x</think>y"), str("y"), str("x"));
	for (size_t n = 0; n < b.len; n++)
		CHECK(!dr1_done_decode(b.data, n, &m), "a DONE cut at %zu is refused", n);
	d.finish = 17;
	memcpy(b.data, &d, sizeof d);
	CHECK(!dr1_done_decode(b.data, b.len, &m), "an unknown finish is refused");
	dr1_buf_free(&b);

	dr1_error_encode(&b, DR1_ERR_TOO_LONG, "too long", 8);
	CHECK(dr1_error_decode(b.data, b.len, &code, &msg) && code == DR1_ERR_TOO_LONG &&
		  str_is(msg, "too long"), "an ERROR decodes");
	CHECK(!dr1_error_decode(b.data, 3, &code, &msg), "a short ERROR is refused");
	code = 0;
	memcpy(b.data, &code, sizeof code);
	CHECK(!dr1_error_decode(b.data, b.len, &code, &msg), "an unknown code is refused");
	dr1_buf_free(&b);

	CHECK(dr1_stats_decode(&(struct dr1_stats) {.running = 2}, sizeof st, &st) && st.running == 2,
		  "STATS");
	CHECK(!dr1_stats_decode(&st, sizeof st - 1, &st), "a short STATS is refused");
	CHECK(dr1_int_decode(&(int32_t) {9}, 4, &v) && v == 9 && !dr1_int_decode(&v, 5, &v), "ints");
	CHECK(!strcmp(dr1_finish_name(DR1_FINISH_LENGTH), "length") &&
		  !strcmp(dr1_finish_name(DR1_FINISH_STOP), "stop") &&
		  !strcmp(dr1_finish_name(DR1_FINISH_CANCEL), "cancel"), "finish names");
}

/* An allocator that fails after a number of allocations. */
static int	allocs_left;

static void *
failing_realloc(void *p, size_t n)
{
	return allocs_left-- > 0 ? realloc(p, n) : NULL;
}

static const struct dr1_allocator failing = {failing_realloc, free};

static void
test_allocation_failure(void)
{
	struct dr1_buf b = {.alloc = &failing};
	struct dr1_outq q = {.b = {.alloc = &failing}};

	allocs_left = 1;
	CHECK(dr1_buf_put(&b, "abc", 3), "the first allocation works");
	CHECK(!dr1_buf_put(&b, NULL, 1 << 20) && b.failed, "a failed one marks the buffer");
	CHECK(!dr1_buf_put(&b, "d", 1) && b.len == 3, "and later appends are dropped");
	dr1_buf_free(&b);

	allocs_left = 1;
	CHECK(dr1_outq_frame(&q, DR1_TOKEN, 1, "1234", 4) == DR1_OUT_OK, "a frame is queued");
	CHECK(dr1_outq_frame(&q, DR1_DONE, 2, NULL, 1 << 20) == DR1_OUT_NO_MEMORY,
		  "a frame that cannot be had is dropped");
	CHECK(dr1_outq_pending(&q) == sizeof(struct dr1_frame) + 4, "the first is intact");
	dr1_outq_free(&q);
}

/* Bytes into the incoming buffer, as a socket would give them. */
static void
feed(struct dr1_inbuf *in, const char *data, size_t n)
{
	while (n > 0)
	{
		size_t		avail;
		char	   *p = dr1_in_space(in, &avail);
		size_t		k = n < avail ? n : avail;

		memcpy(p, data, k);
		dr1_in_commit(in, k);
		data += k;
		n -= k;
	}
}

static void
test_framing(void)
{
	struct dr1_outq q = {0};
	struct dr1_inbuf in = {0};
	struct dr1_frame h;
	const char *payload;
	struct dr1_buf *b;

	dr1_outq_frame(&q, DR1_TOKEN, 1, &(int32_t) {5}, 4);
	b = dr1_outq_begin(&q, DR1_ERROR, 2);
	dr1_error_encode(b, DR1_ERR_ARGUMENT, "bad", 3);
	CHECK(dr1_outq_end(&q) == DR1_OUT_OK, "a frame built in place");
	dr1_outq_frame(&q, DR1_CANCEL, 3, NULL, 0);

	/* byte by byte: a frame comes out only when whole */
	for (size_t i = 0; i < q.b.len; i++)
	{
		enum dr1_in_result r;

		feed(&in, q.b.data + i, 1);
		r = dr1_in_next(&in, &h, &payload);
		CHECK(r == DR1_IN_NONE || i + 1 == 20 || i + 1 == 43 || i + 1 == q.b.len,
			  "no frame before its last byte (%zu)", i);
		if (r == DR1_IN_FRAME && h.id == 2)
		{
			uint32_t	code;
			struct dr1_str msg;

			CHECK(dr1_error_decode(payload, h.len, &code, &msg) && str_is(msg, "bad"),
				  "the ERROR built in place");
		}
		if (r == DR1_IN_FRAME && h.id == 3)
			CHECK(h.type == DR1_CANCEL && h.len == 0, "an empty payload");
	}
	CHECK(dr1_in_next(&in, &h, &payload) == DR1_IN_NONE, "nothing left");
	dr1_outq_free(&q);

	/* an oversized frame: reported once, its bytes skipped, the next intact */
	{
		struct dr1_frame big = {DR1_FRAME_MAX + 1, DR1_SUBMIT, 7};
		char	   *junk = calloc(1, 1 << 20);

		feed(&in, (const char *) &big, sizeof big);
		CHECK(dr1_in_next(&in, &h, &payload) == DR1_IN_TOO_LONG && h.id == 7, "over the limit");
		for (uint64_t left = big.len; left > 0;)
		{
			size_t		n = left < (1 << 20) ? (size_t) left : (1 << 20);

			feed(&in, junk, n);
			left -= n;
			CHECK(dr1_in_next(&in, &h, &payload) == DR1_IN_NONE, "skipped");
			CHECK(in.b.cap <= (4 << 20), "a skipped frame is not buffered (%zu)", in.b.cap);
		}
		dr1_outq_frame(&q, DR1_CANCEL, 8, NULL, 0);
		feed(&in, q.b.data, q.b.len);
		CHECK(dr1_in_next(&in, &h, &payload) == DR1_IN_FRAME && h.id == 8, "the next frame");
		free(junk);
		dr1_outq_free(&q);
	}

	/* a large frame: the buffer grows for it and shrinks back after */
	{
		size_t		n = 20 << 20;
		char	   *data = calloc(1, n);
		size_t		avail;

		CHECK(dr1_outq_frame(&q, DR1_DONE, 9, data, n) == DR1_OUT_OK, "a 20 MB frame");
		feed(&in, q.b.data, q.b.len);
		CHECK(dr1_in_next(&in, &h, &payload) == DR1_IN_FRAME && h.len == n, "comes out whole");
		CHECK(in.b.cap >= n, "the buffer grew");
		dr1_in_space(&in, &avail);
		CHECK(in.b.cap <= (1 << 20), "and shrinks back (%zu)", in.b.cap);
		free(data);
		dr1_outq_free(&q);
	}
	{
		char	   *big = calloc(1, (size_t) DR1_FRAME_MAX + 1);

		CHECK(dr1_outq_frame(&q, DR1_DONE, 10, big, (size_t) DR1_FRAME_MAX + 1) == DR1_OUT_TOO_LONG,
			  "the queue refuses a frame over the limit");
		CHECK(dr1_outq_pending(&q) == 0 && q.b.cap <= (1 << 20), "and keeps nothing of it");
		free(big);
		dr1_outq_free(&q);
	}
	dr1_in_free(&in);
}

/* Over a socketpair whose buffers are much smaller than what is sent:
 * writes never block, and what they left behind goes out later. */
static void
test_socket(void)
{
	int			sv[2];
	struct dr1_outq q = {0};
	struct dr1_inbuf in = {0};
	size_t		n = 8 << 20;
	char	   *data = malloc(n);
	struct dr1_frame h;
	const char *payload;
	bool		got = false;
	int			rounds = 0;

	for (size_t i = 0; i < n; i++)
		data[i] = (char) (i * 7);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	dr1_outq_frame(&q, DR1_DONE, 1, data, n);
	CHECK(dr1_outq_write(&q, sv[0]) == 0 && dr1_outq_pending(&q) > 0,
		  "a full socket leaves the rest queued, without blocking");
	while (!got && rounds++ < 100000)
	{
		CHECK(dr1_in_read(&in, sv[1], 1 << 20) >= 0, "read");
		got = dr1_in_next(&in, &h, &payload) == DR1_IN_FRAME;
		CHECK(dr1_outq_write(&q, sv[0]) == 0, "write");
	}
	CHECK(got && h.len == n && memcmp(payload, data, n) == 0, "8 MB through a socketpair");
	CHECK(dr1_outq_pending(&q) == 0 && q.b.cap <= (1 << 20), "the queue is empty and small again");
	CHECK(dr1_in_read(&in, sv[1], 1 << 20) == 0, "nothing more to read");
	close(sv[0]);
	CHECK(dr1_in_read(&in, sv[1], 1 << 20) == -1 && errno == 0, "end of file");
	dr1_outq_frame(&q, DR1_CANCEL, 2, NULL, 0);
	CHECK(dr1_outq_write(&q, sv[1]) == -1 && errno == EPIPE, "a write to a closed peer fails");
	close(sv[1]);
	free(data);
	dr1_outq_free(&q);
	dr1_in_free(&in);
}

int
main(void)
{
	test_submit();
	test_answers();
	test_allocation_failure();
	test_framing();
	test_socket();
	return check_done("protocol");
}
