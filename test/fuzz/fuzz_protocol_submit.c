/*
 * fuzz_protocol_submit.c — libFuzzer target for the worker -> engine
 * direction: the frames `deepseek-r1 serve` reads (SUBMIT, CANCEL).
 *
 * A SUBMIT that decodes must encode back to the same bytes (so the decoder
 * accepts exactly what the encoder writes); every string is read to its
 * end; an oversized or malformed frame is answered with an ERROR frame, as
 * serve does.
 */
#include "fuzz_frames.h"

static void
answer_error(uint64_t id)
{
	struct dr1_outq q = {0};

	dr1_error_encode(dr1_outq_begin(&q, DR1_ERROR, id), DR1_ERR_ENGINE, "malformed request", 17);
	if (dr1_outq_end(&q) != DR1_OUT_OK)
		abort();
	dr1_outq_free(&q);
}

static void
on_frame(enum dr1_in_result r, const struct dr1_frame *h, const char *payload)
{
	struct dr1_submit_msg m;
	struct dr1_str *strs;
	struct dr1_buf again = {0};

	if (h->type != DR1_SUBMIT)
		return;
	if (r == DR1_IN_TOO_LONG || !dr1_submit_decode(payload, h->len, &m))
	{
		answer_error(h->id);
		return;
	}
	strs = calloc(m.n_strings + 1, sizeof *strs);
	if (!strs)
		abort();
	for (uint32_t i = 0; i < m.n_strings; i++)
	{
		if (!dr1_get_str(&m.strings, &strs[i].s, &strs[i].len))
			abort();			/* decoded, so every string is there */
		fuzz_touch(strs[i].s, strs[i].len);
	}
	fuzz_touch(m.ids, (size_t) m.h.n_ids * sizeof(int32_t));
	dr1_submit_encode(&again, &m.h, strs, (const int32_t *) (const void *) m.ids);
	if (again.failed || again.len != h->len || memcmp(again.data, payload, h->len) != 0)
		abort();
	dr1_buf_free(&again);
	free(strs);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frames(data, size, on_frame);
	return 0;
}
