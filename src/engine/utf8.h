/*
 * utf8.h — strict UTF-8 decoding and encoding.
 *
 * "Valid" is RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF.  The tokenizer refuses anything else, and the detokenizer uses
 * utf8_prefix_len to know whether held-back bytes can still complete.
 */
#ifndef DR1_UTF8_H
#define DR1_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the character at s (n bytes available).  Returns its length (1-4)
 * and stores the code point, or 0 when the bytes are not a complete valid
 * character. */
int			utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Encode cp (at most U+10FFFF) into out (4 bytes of room); returns length. */
int			utf8_encode(uint32_t cp, char *out);

/* Byte offset of the first invalid sequence in s, or len when all valid. */
size_t		utf8_valid_prefix(const char *s, size_t len);

/*
 * Whitespace, for the two definitions the engine reproduces.  They agree
 * except on U+001C..U+001F (the information separators), which Python's
 * str.isspace() counts (they are bidirectional class B/S) and the Unicode
 * White_Space property does not:
 *   UTF8_SPACE_UNICODE  White_Space: \s of the pre-tokenizer's patterns, as
 *                       llama.cpp defines it (not a general category, so
 *                       not in utf8proc)
 *   UTF8_SPACE_PYTHON   str.isspace(): what Jinja's trim filter strips
 */
enum utf8_space
{
	UTF8_SPACE_UNICODE,
	UTF8_SPACE_PYTHON
};

bool		utf8_is_space(uint32_t cp, enum utf8_space kind);

/* For n bytes that start a character: 0 when they can never become valid,
 * else the full length of the character they begin (which is > n while the
 * character is still incomplete). */
int			utf8_prefix_len(const unsigned char *s, size_t n);

#endif
