/*
 * fuzz_frames.h — what both protocol fuzz targets share: the input is the
 * byte stream one side receives, fed to a dr1_inbuf in pieces whose size
 * the first byte picks (so frames arrive split at every point), and every
 * frame that comes out is handed to the target.
 */
#ifndef DR1_FUZZ_FRAMES_H
#define DR1_FUZZ_FRAMES_H

#include <stdlib.h>
#include <string.h>

#include "protocol.h"

typedef void (*fuzz_frame_fn) (enum dr1_in_result r, const struct dr1_frame *h,
							   const char *payload);

static volatile unsigned char fuzz_sink;

static inline void
fuzz_touch(const void *p, size_t n)
{
	if (n > 0)
		fuzz_sink ^= ((const unsigned char *) p)[0] ^ ((const unsigned char *) p)[n - 1];
}

static inline void
fuzz_frames(const uint8_t *data, size_t size, fuzz_frame_fn on_frame)
{
	struct dr1_inbuf in = {0};
	size_t		piece;

	if (size == 0)
		return;
	piece = (size_t) data[0] + 1;
	data++;
	size--;
	while (size > 0)
	{
		size_t		avail;
		char	   *p = dr1_in_space(&in, &avail);
		size_t		n = piece < size ? piece : size;
		struct dr1_frame h;
		const char *payload = NULL;
		enum dr1_in_result r;

		if (!p)
			abort();
		if (n > avail)
			n = avail;
		memcpy(p, data, n);
		dr1_in_commit(&in, n);
		data += n;
		size -= n;
		while ((r = dr1_in_next(&in, &h, &payload)) != DR1_IN_NONE)
		{
			if (r == DR1_IN_FRAME)
				fuzz_touch(payload, h.len);
			on_frame(r, &h, payload);
		}
	}
	dr1_in_free(&in);
}

#endif
