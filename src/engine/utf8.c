/*
 * utf8.c — strict UTF-8 decoding and encoding (see utf8.h).
 */
#include "utf8.h"

/*
 * Length of the character a lead byte starts (0: not a lead byte) and the
 * range allowed for the second byte, which is where overlong forms,
 * surrogates and values above U+10FFFF are excluded.
 */
static int
lead_info(unsigned char b, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF)
	{
		if (b == 0xE0)
			*lo = 0xA0;
		else if (b == 0xED)
			*hi = 0x9F;
		return 3;
	}
	if (b >= 0xF0 && b <= 0xF4)
	{
		if (b == 0xF0)
			*lo = 0x90;
		else if (b == 0xF4)
			*hi = 0x8F;
		return 4;
	}
	return 0;
}

int
utf8_prefix_len(const unsigned char *s, size_t n)
{
	unsigned char lo,
				hi;
	int			len;

	if (n == 0)
		return 0;
	len = lead_info(s[0], &lo, &hi);
	if (len == 0 || n > (size_t) len)
		return 0;
	if (n >= 2 && (s[1] < lo || s[1] > hi))
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

int
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char lo,
				hi;
	int			len;
	uint32_t	c;

	if (n == 0)
		return 0;
	len = lead_info(s[0], &lo, &hi);
	if (len == 0 || n < (size_t) len)
		return 0;
	if (len == 1)
	{
		*cp = s[0];
		return 1;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	c = s[0] & (0xFF >> (len + 1));
	for (int i = 1; i < len; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	*cp = c;
	return len;
}

int
utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *) out;

	if (cp < 0x80)
	{
		o[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		o[0] = 0xC0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000)
	{
		o[0] = 0xE0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3F);
		o[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	o[0] = 0xF0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3F);
	o[2] = 0x80 | ((cp >> 6) & 0x3F);
	o[3] = 0x80 | (cp & 0x3F);
	return 4;
}

bool
utf8_is_space(uint32_t cp, enum utf8_space kind)
{
	if (cp < 0x80)
		return (cp >= 0x09 && cp <= 0x0D) || cp == ' ' ||
			(kind == UTF8_SPACE_PYTHON && cp >= 0x1C && cp <= 0x1F);
	return cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
		(cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
		cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t
utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;
	uint32_t	cp;

	while (i < len)
	{
		int			n;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		n = utf8_decode(p + i, len - i, &cp);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}
