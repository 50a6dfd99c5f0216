/*
 * fuzz_protocol_answer.c — libFuzzer target for the engine -> worker
 * direction: the frames the worker reads (READY, LOAD_FAILED, STARTED,
 * TOKEN, DONE, ERROR, STATS) and the DONE a backend decodes.
 *
 * Every payload goes through the decoder of its type, as the worker's
 * handle_frame does; a DONE or ERROR that decodes must encode back to the
 * same bytes, and its strings are read to their ends.
 */
#include "fuzz_frames.h"

static void
same_bytes(const struct dr1_buf *b, const char *payload, uint32_t len)
{
	if (b->failed || b->len != len || memcmp(b->data, payload, len) != 0)
		abort();
}

static void
check_done(const char *payload, uint32_t len)
{
	struct dr1_done_msg m;
	struct dr1_buf again = {0};
	int32_t    *ids;

	if (!dr1_done_decode(payload, len, &m))
		return;
	fuzz_touch(m.text.s, m.text.len);
	fuzz_touch(m.content.s, m.content.len);
	fuzz_touch(m.reasoning.s, m.reasoning.len);
	/* the backend copies the ids out: they are not aligned */
	ids = malloc((size_t) m.d.n_ids * sizeof(int32_t) + 1);
	if (!ids)
		abort();
	memcpy(ids, m.ids, (size_t) m.d.n_ids * sizeof(int32_t));
	dr1_done_encode(&again, &m.d, ids, m.text, m.content, m.reasoning);
	same_bytes(&again, payload, len);
	dr1_buf_free(&again);
	free(ids);
}

static void
check_error(const char *payload, uint32_t len)
{
	uint32_t	code;
	struct dr1_str msg;
	struct dr1_buf again = {0};

	if (!dr1_error_decode(payload, len, &code, &msg))
		return;
	fuzz_touch(msg.s, msg.len);
	dr1_error_encode(&again, code, msg.s, msg.len);
	same_bytes(&again, payload, len);
	dr1_buf_free(&again);
}

static void
on_frame(enum dr1_in_result r, const struct dr1_frame *h, const char *payload)
{
	struct dr1_stats st;
	int32_t		v;

	if (r == DR1_IN_TOO_LONG)
		return;					/* the worker fails the request: nothing to read */
	switch (h->type)
	{
		case DR1_DONE:
			check_done(payload, h->len);
			break;
		case DR1_ERROR:
			check_error(payload, h->len);
			break;
		case DR1_STATS:
			if (dr1_stats_decode(payload, h->len, &st))
				fuzz_touch(&st, sizeof st);
			break;
		case DR1_STARTED:
		case DR1_TOKEN:
			if (dr1_int_decode(payload, h->len, &v))
				fuzz_touch(&v, sizeof v);
			break;
		default:
			break;				/* READY and LOAD_FAILED are any text */
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frames(data, size, on_frame);
	return 0;
}
