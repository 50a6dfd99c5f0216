/*
 * json_value.c — a recursive-descent JSON reader (RFC 8259).
 */
#include "json_value.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "utf8.h"

struct reader
{
	const char *s;
	size_t		len;
	size_t		at;
	char	   *err;
};

static int	read_value(struct reader *r, struct json_value *v, int depth);

static int
fail(struct reader *r, const char *what)
{
	return err_set(r->err, "invalid JSON at byte %zu: %s", r->at, what);
}

static void
skip_space(struct reader *r)
{
	while (r->at < r->len && (r->s[r->at] == ' ' || r->s[r->at] == '\t' ||
							  r->s[r->at] == '\n' || r->s[r->at] == '\r'))
		r->at++;
}

static bool
eat(struct reader *r, char c)
{
	skip_space(r);
	if (r->at < r->len && r->s[r->at] == c)
	{
		r->at++;
		return true;
	}
	return false;
}

static int
hex4(struct reader *r, uint32_t *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++, r->at++)
	{
		char		c = r->at < r->len ? r->s[r->at] : 0;
		int			d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return fail(r, "bad \\u escape");
		*out = *out * 16 + (uint32_t) d;
	}
	return 0;
}

/* A \u escape (a surrogate pair is one code point) appended as UTF-8. */
static int
read_unicode(struct reader *r, char *out, size_t *n)
{
	uint32_t	cp;
	uint32_t	lo;

	if (hex4(r, &cp) < 0)
		return -1;
	if (cp >= 0xD800 && cp < 0xDC00)
	{
		if (r->at + 2 > r->len || r->s[r->at] != '\\' || r->s[r->at + 1] != 'u')
			return fail(r, "lone surrogate");
		r->at += 2;
		if (hex4(r, &lo) < 0)
			return -1;
		if (lo < 0xDC00 || lo >= 0xE000)
			return fail(r, "bad surrogate pair");
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	else if (cp >= 0xDC00 && cp < 0xE000)
		return fail(r, "lone surrogate");
	*n += utf8_encode(cp, out + *n);
	return 0;
}

static int
read_string(struct reader *r, char **out, size_t *out_len)
{
	/* the decoded text is never longer than the escaped one */
	char	   *buf;
	size_t		n = 0;

	if (!eat(r, '"'))
		return fail(r, "expected a string");
	buf = xmalloc(r->len - r->at + 1);
	for (;;)
	{
		unsigned char c;

		if (r->at >= r->len)
		{
			free(buf);
			return fail(r, "unterminated string");
		}
		c = (unsigned char) r->s[r->at++];
		if (c == '"')
			break;
		if (c < 0x20)
		{
			free(buf);
			return fail(r, "control character in a string");
		}
		if (c != '\\')
		{
			buf[n++] = (char) c;
			continue;
		}
		c = r->at < r->len ? (unsigned char) r->s[r->at++] : 0;
		switch (c)
		{
			case '"': case '\\': case '/': buf[n++] = (char) c; break;
			case 'b': buf[n++] = '\b'; break;
			case 'f': buf[n++] = '\f'; break;
			case 'n': buf[n++] = '\n'; break;
			case 'r': buf[n++] = '\r'; break;
			case 't': buf[n++] = '\t'; break;
			case 'u':
				if (read_unicode(r, buf, &n) < 0)
				{
					free(buf);
					return -1;
				}
				break;
			default:
				free(buf);
				return fail(r, "bad escape");
		}
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static int
read_number(struct reader *r, struct json_value *v)
{
	size_t		start = r->at;
	char		tmp[64];
	char	   *end;

	if (r->at < r->len && r->s[r->at] == '-')
		r->at++;
	if (r->at < r->len && r->s[r->at] == '0')
		r->at++;
	else if (r->at < r->len && r->s[r->at] >= '1' && r->s[r->at] <= '9')
		while (r->at < r->len && r->s[r->at] >= '0' && r->s[r->at] <= '9')
			r->at++;
	else
		return fail(r, "expected a value");
	v->integral = true;
	if (r->at < r->len && r->s[r->at] == '.')
	{
		v->integral = false;
		if (++r->at >= r->len || r->s[r->at] < '0' || r->s[r->at] > '9')
			return fail(r, "expected a digit");
		while (r->at < r->len && r->s[r->at] >= '0' && r->s[r->at] <= '9')
			r->at++;
	}
	if (r->at < r->len && (r->s[r->at] == 'e' || r->s[r->at] == 'E'))
	{
		v->integral = false;
		r->at++;
		if (r->at < r->len && (r->s[r->at] == '+' || r->s[r->at] == '-'))
			r->at++;
		if (r->at >= r->len || r->s[r->at] < '0' || r->s[r->at] > '9')
			return fail(r, "expected a digit");
		while (r->at < r->len && r->s[r->at] >= '0' && r->s[r->at] <= '9')
			r->at++;
	}
	if (r->at - start >= sizeof tmp)
		return fail(r, "number too long");
	memcpy(tmp, r->s + start, r->at - start);
	tmp[r->at - start] = '\0';
	v->type = JSON_NUMBER;
	v->number = strtod(tmp, &end);
	return 0;
}

static int
read_literal(struct reader *r, const char *word)
{
	size_t		n = strlen(word);

	if (r->len - r->at < n || memcmp(r->s + r->at, word, n) != 0)
		return fail(r, "expected a value");
	r->at += n;
	return 0;
}

/* Items of an array or members of an object, up to the closing bracket. */
static int
read_items(struct reader *r, struct json_value *v, bool object, int depth)
{
	size_t		cap = 0;
	size_t		key_cap = 0;

	if (eat(r, object ? '}' : ']'))
		return 0;
	do
	{
		v->items = xgrow(v->items, &cap, v->n + 1, sizeof(*v->items));
		memset(&v->items[v->n], 0, sizeof(*v->items));
		if (object)
		{
			size_t		klen;

			v->keys = xgrow(v->keys, &key_cap, v->n + 1, sizeof(*v->keys));
			v->keys[v->n] = NULL;
			skip_space(r);
			if (read_string(r, &v->keys[v->n], &klen) < 0)
				return -1;
			if (!eat(r, ':'))
				return fail(r, "expected ':'");
		}
		v->n++;
		if (read_value(r, &v->items[v->n - 1], depth + 1) < 0)
			return -1;
	} while (eat(r, ','));
	if (!eat(r, object ? '}' : ']'))
		return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
	return 0;
}

static int
read_value(struct reader *r, struct json_value *v, int depth)
{
	char		c;

	if (depth > JSON_VALUE_MAX_DEPTH)
		return fail(r, "nested too deeply");
	skip_space(r);
	c = r->at < r->len ? r->s[r->at] : 0;
	switch (c)
	{
		case '{':
		case '[':
			r->at++;
			v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
			return read_items(r, v, c == '{', depth);
		case '"':
			v->type = JSON_STRING;
			return read_string(r, &v->str, &v->len);
		case 't':
		case 'f':
			v->type = JSON_BOOL;
			v->boolean = c == 't';
			return read_literal(r, c == 't' ? "true" : "false");
		case 'n':
			v->type = JSON_NULL;
			return read_literal(r, "null");
		default:
			return read_number(r, v);
	}
}

static void
value_clear(struct json_value *v)
{
	for (size_t i = 0; i < v->n; i++)
	{
		value_clear(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
}

void
json_value_free(struct json_value *v)
{
	if (v == NULL)
		return;
	value_clear(v);
	free(v);
}

struct json_value *
json_parse(const char *text, size_t len, char *err)
{
	struct reader r = {text, len, 0, err};
	struct json_value *v = xcalloc(1, sizeof(*v));

	if (read_value(&r, v, 0) < 0)
	{
		json_value_free(v);
		return NULL;
	}
	skip_space(&r);
	if (r.at != len)
	{
		fail(&r, "text after the value");
		json_value_free(v);
		return NULL;
	}
	return v;
}

const struct json_value *
json_member(const struct json_value *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const char *
json_type_name(enum json_type t)
{
	static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};

	return names[t];
}
