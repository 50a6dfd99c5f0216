/*
 * detokenizer.c — ids back to text, one at a time (see detokenizer.h).
 */
#include "detokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tokenizer.h"
#include "utf8.h"

void
detokenizer_init(struct detokenizer *d, const struct tokenizer *t, bool with_special)
{
	d->tok = t;
	d->with_special = with_special;
	d->n_pending = 0;
}

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the maximal prefix of s that could begin a valid character
 * (at least 1): what one U+FFFD replaces. */
static size_t
invalid_run(const unsigned char *s, size_t n)
{
	size_t		k = 1;

	while (k < n && k < 4 && utf8_prefix_len(s, k + 1) != 0)
		k++;
	return k;
}

/*
 * Emit the complete characters of s[0..n), keep an incomplete tail.  Every
 * text the engine produces from ids passes here, so this is where its
 * promise is kept: the output is valid UTF-8 without NUL.  A NUL byte (a
 * byte token, or the GPT-2 code point of byte 0) becomes U+FFFD like any
 * other byte that cannot be text: PostgreSQL's text cannot hold it, and
 * replacing rather than dropping keeps the position visible.
 */
static void
detok_bytes(struct detokenizer *d, const unsigned char *s, size_t n, struct text_buf *out)
{
	size_t		i = 0,
				run = 0;

	while (i < n)
	{
		uint32_t	cp;
		int			k = s[i] == 0 ? 0 : s[i] < 0x80 ? 1 : utf8_decode(s + i, n - i, &cp);
		int			need;

		if (k > 0)
		{
			i += (size_t) k;
			continue;
		}
		text_buf_append(out, (const char *) s + run, i - run);
		need = utf8_prefix_len(s + i, n - i);
		if (need > (int) (n - i))
		{
			memcpy(d->pending, s + i, n - i);
			d->n_pending = n - i;
			return;
		}
		text_buf_append(out, replacement, 3);
		i += invalid_run(s + i, n - i);
		run = i;
	}
	text_buf_append(out, (const char *) s + run, n - run);
}

void
detokenizer_push(struct detokenizer *d, int32_t id, struct text_buf *out)
{
	char		small[256];
	size_t		len = tokenizer_piece(d->tok, id, d->with_special, NULL, 0);
	size_t		n = d->n_pending + len;
	char	   *buf = n <= sizeof small ? small : xmalloc(n);

	memcpy(buf, d->pending, d->n_pending);
	tokenizer_piece(d->tok, id, d->with_special, buf + d->n_pending, len);
	d->n_pending = 0;
	detok_bytes(d, (const unsigned char *) buf, n, out);
	if (buf != small)
		free(buf);
}

void
detokenizer_flush(struct detokenizer *d, struct text_buf *out)
{
	if (d->n_pending > 0)
		text_buf_append(out, replacement, 3);
	d->n_pending = 0;
}
