/*
 * json_schema.c — compiling the supported JSON Schema subset (json_schema.h).
 *
 * The schema is read into a tree (json_value.h) and walked once; each
 * subschema becomes a node, its children nodes by index.  Errors name the
 * place in the schema as a JSON pointer ("at /properties/when").
 */
#include "json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "json_value.h"

struct compiler
{
	struct json_schema *s;
	char	   *err;
	char		path[512];
};

static int	compile_node(struct compiler *c, const struct json_value *v, int depth);

static int
fail(struct compiler *c, const char *fmt, const char *what)
{
	char		msg[ERR_MAX];

	snprintf(msg, sizeof msg, fmt, what);
	return err_set(c->err, "%s (at %s)", msg, c->path[0] ? c->path : "the schema's root");
}

/* Descend into a member for the messages; returns the old path length. */
static size_t
path_push(struct compiler *c, const char *part)
{
	size_t		n = strlen(c->path);

	snprintf(c->path + n, sizeof c->path - n, "/%s", part);
	return n;
}

static bool
is_annotation(const char *key)
{
	static const char *const keys[] = {"title", "description", "$schema", "$comment",
	"examples", "default", NULL};

	for (int i = 0; keys[i]; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

/* The keywords each kind accepts besides the annotations and "type". */
static bool
keyword_allowed(enum js_kind kind, const char *key)
{
	static const char *const object[] = {"properties", "required", "additionalProperties", NULL};
	static const char *const array[] = {"items", "minItems", "maxItems", NULL};
	static const char *const string[] = {"enum", "minLength", "maxLength", "format", NULL};
	static const char *const number[] = {"minimum", "maximum", NULL};
	static const char *const none[] = {NULL};
	static const char *const *const by_kind[] = {
		[JS_OBJECT] = object, [JS_ARRAY] = array, [JS_STRING] = string, [JS_NUMBER] = number,
		[JS_INTEGER] = number, [JS_BOOLEAN] = none, [JS_NULL] = none, [JS_ANY_OF] = none,
	};

	if (strcmp(key, "type") == 0 || is_annotation(key))
		return true;
	for (int i = 0; by_kind[kind][i]; i++)
		if (strcmp(key, by_kind[kind][i]) == 0)
			return true;
	return false;
}

static const char *const kind_names[] = {
	[JS_OBJECT] = "object", [JS_ARRAY] = "array", [JS_STRING] = "string",
	[JS_NUMBER] = "number", [JS_INTEGER] = "integer", [JS_BOOLEAN] = "boolean",
	[JS_NULL] = "null",
};

/* The kind a schema object declares: its type, or a string enum, or anyOf. */
static int
node_kind(struct compiler *c, const struct json_value *v, enum js_kind *kind)
{
	const struct json_value *type = json_member(v, "type");

	if (json_member(v, "anyOf"))
	{
		if (type || json_member(v, "enum"))
			return fail(c, "%s cannot be combined with type or enum", "anyOf");
		*kind = JS_ANY_OF;
		return 0;
	}
	if (type == NULL)
	{
		if (json_member(v, "enum"))
		{
			*kind = JS_STRING;
			return 0;
		}
		return fail(c, "%s: a schema needs a type, an enum or anyOf", "missing type");
	}
	if (type->type != JSON_STRING)
		return fail(c, "%s must be a string (a list of types is not supported; use anyOf)", "type");
	for (int k = JS_OBJECT; k <= JS_NULL; k++)
		if (strcmp(type->str, kind_names[k]) == 0)
		{
			*kind = (enum js_kind) k;
			return 0;
		}
	return fail(c, "unknown type \"%s\"", type->str);
}

static int
check_keywords(struct compiler *c, const struct json_value *v, enum js_kind kind)
{
	for (size_t i = 0; i < v->n; i++)
	{
		if (kind == JS_ANY_OF && strcmp(v->keys[i], "anyOf") == 0)
			continue;
		if (!keyword_allowed(kind, v->keys[i]))
		{
			const char *k = v->keys[i];

			if (keyword_allowed(JS_OBJECT, k) || keyword_allowed(JS_ARRAY, k) ||
				keyword_allowed(JS_STRING, k) || keyword_allowed(JS_NUMBER, k) ||
				strcmp(k, "anyOf") == 0)
			{
				char		msg[ERR_MAX];

				snprintf(msg, sizeof msg, "keyword \"%%s\" does not apply to type %s",
						 kind == JS_ANY_OF ? "anyOf" : kind_names[kind]);
				return fail(c, msg, k);
			}
			return fail(c, "unsupported JSON Schema keyword \"%s\"", k);
		}
	}
	return 0;
}

/* A non-negative integer keyword into *out (absent: unchanged). */
static int
count_keyword(struct compiler *c, const struct json_value *v, const char *key, uint32_t *out)
{
	const struct json_value *k = json_member(v, key);

	if (k == NULL)
		return 0;
	if (k->type != JSON_NUMBER || !k->integral || k->number < 0 || k->number > 1e9)
		return fail(c, "%s must be a non-negative integer", key);
	*out = (uint32_t) k->number;
	return 0;
}

static int
bound_keyword(struct compiler *c, const struct json_value *v, const char *key, double *out)
{
	const struct json_value *k = json_member(v, key);

	if (k == NULL)
		return 0;
	if (k->type != JSON_NUMBER || !isfinite(k->number) || fabs(k->number) >= 1e15)
		return fail(c, "%s must be a number of magnitude below 1e15", key);
	*out = k->number;
	return 0;
}

/* Append s as it is written inside a JSON string (quotes and backslashes,
 * control characters escaped; nothing else). */
static size_t
json_escape(const char *s, size_t len, char *out)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) s[i];

		if (ch == '"' || ch == '\\')
		{
			out[n++] = '\\';
			out[n++] = (char) ch;
		}
		else if (ch < 0x20)
			n += (size_t) sprintf(out + n, "\\u%04x", ch);
		else
			out[n++] = (char) ch;
	}
	return n;
}

static int
add_name(struct compiler *c, struct js_names *names, const char *s, size_t len, const char *what)
{
	char		buf[6 * JSON_SCHEMA_MAX_TEXT];
	size_t		n;

	if (names->n >= JSON_SCHEMA_MAX_NAMES)
		return fail(c, "at most 64 %s", what);
	if (len == 0 || len > JSON_SCHEMA_MAX_TEXT)
		return fail(c, "%s must be 1 to 256 bytes long", what);
	n = json_escape(s, len, buf);
	for (uint16_t i = 0; i < names->n; i++)
		if (names->len[i] == n && memcmp(names->text[i], buf, n) == 0)
			return fail(c, "duplicate %s", what);
	names->len[names->n] = (uint16_t) n;
	names->text[names->n] = xmalloc(n);
	memcpy(names->text[names->n], buf, n);
	names->n++;
	return 0;
}

static int
compile_enum(struct compiler *c, const struct json_value *v, struct js_node *n)
{
	const struct json_value *e = json_member(v, "enum");

	if (e == NULL)
		return 0;
	if (e->type != JSON_ARRAY || e->n == 0)
		return fail(c, "%s must be a non-empty array", "enum");
	if (json_member(v, "format") || json_member(v, "minLength") || json_member(v, "maxLength"))
		return fail(c, "%s cannot be combined with format, minLength or maxLength", "enum");
	for (size_t i = 0; i < e->n; i++)
	{
		if (e->items[i].type != JSON_STRING)
			return fail(c, "%s values must be strings", "enum");
		if (add_name(c, &n->names, e->items[i].str, e->items[i].len, "enum values") < 0)
			return -1;
	}
	return 0;
}

static int
compile_string(struct compiler *c, const struct json_value *v, struct js_node *n)
{
	const struct json_value *f = json_member(v, "format");

	if (count_keyword(c, v, "minLength", &n->min_length) < 0 ||
		count_keyword(c, v, "maxLength", &n->max_length) < 0)
		return -1;
	if (n->min_length > n->max_length)
		return fail(c, "%s is above maxLength", "minLength");
	if (f)
	{
		if (f->type == JSON_STRING && strcmp(f->str, "date") == 0)
			n->format = JS_FORMAT_DATE;
		else if (f->type == JSON_STRING && strcmp(f->str, "date-time") == 0)
			n->format = JS_FORMAT_DATE_TIME;
		else
			return fail(c, "unsupported format %s (only \"date\" and \"date-time\")",
						f->type == JSON_STRING ? f->str : "(not a string)");
		if (json_member(v, "minLength") || json_member(v, "maxLength"))
			return fail(c, "%s cannot be combined with minLength or maxLength", "format");
	}
	return compile_enum(c, v, n);
}

static int
compile_object(struct compiler *c, const struct json_value *v, struct js_node *n, int depth)
{
	const struct json_value *props = json_member(v, "properties");
	const struct json_value *req = json_member(v, "required");
	const struct json_value *extra = json_member(v, "additionalProperties");
	uint16_t   *children;

	if (extra && extra->type != JSON_BOOL)
		return fail(c, "%s must be true or false (a schema for it is not supported)",
					"additionalProperties");
	if (props && props->type != JSON_OBJECT)
		return fail(c, "%s must be an object", "properties");
	children = props && props->n ? xcalloc(props->n, sizeof(*children)) : NULL;
	for (size_t i = 0; props && i < props->n; i++)
	{
		size_t		old = path_push(c, "properties");
		int			child;

		path_push(c, props->keys[i]);
		if (add_name(c, &n->props, props->keys[i], strlen(props->keys[i]), "properties") < 0 ||
			(child = compile_node(c, &props->items[i], depth + 1)) < 0)
		{
			free(children);
			return -1;
		}
		c->path[old] = '\0';
		children[i] = (uint16_t) child;
	}
	n->prop_node = children;
	if (req == NULL)
		return 0;
	if (req->type != JSON_ARRAY)
		return fail(c, "%s must be an array of property names", "required");
	for (size_t i = 0; i < req->n; i++)
	{
		size_t		j;

		if (req->items[i].type != JSON_STRING)
			return fail(c, "%s must be an array of property names", "required");
		for (j = 0; props && j < props->n; j++)
			if (strcmp(props->keys[j], req->items[i].str) == 0)
				break;
		if (props == NULL || j == props->n)
			return fail(c, "required property \"%s\" is not in properties", req->items[i].str);
		n->required |= (uint64_t) 1 << j;
	}
	return 0;
}

static int
compile_array(struct compiler *c, const struct json_value *v, uint16_t self, int depth)
{
	const struct json_value *items = json_member(v, "items");
	size_t		old;
	int			child;
	struct js_node *n = &c->s->nodes[self];

	if (items == NULL)
		return fail(c, "%s: an array schema needs items", "missing items");
	old = path_push(c, "items");
	child = compile_node(c, items, depth + 1);
	if (child < 0)
		return -1;
	c->path[old] = '\0';
	n->items = (uint16_t) child;
	if (count_keyword(c, v, "minItems", &n->min_items) < 0 ||
		count_keyword(c, v, "maxItems", &n->max_items) < 0)
		return -1;
	if (n->min_items > n->max_items)
		return fail(c, "%s is above maxItems", "minItems");
	return 0;
}

/* The characters a value of node k can start with, as a bit per class. */
static unsigned
first_chars(const struct json_schema *s, uint16_t k)
{
	switch (s->nodes[k].kind)
	{
		case JS_OBJECT: return 1u << 0;
		case JS_ARRAY: return 1u << 1;
		case JS_STRING: return 1u << 2;
		case JS_NUMBER:
		case JS_INTEGER: return 1u << 3;
		case JS_BOOLEAN: return 1u << 4;
		case JS_NULL: return 1u << 5;
		case JS_ANY_OF:
			{
				unsigned	m = 0;

				for (uint16_t i = 0; i < s->nodes[k].n_alts; i++)
					m |= first_chars(s, s->nodes[k].alts[i]);
				return m;
			}
	}
	return 0;
}

static int
compile_any_of(struct compiler *c, const struct json_value *v, uint16_t self, int depth)
{
	const struct json_value *alts = json_member(v, "anyOf");
	uint16_t   *ids;
	unsigned	seen = 0;

	if (alts->type != JSON_ARRAY || alts->n == 0 || alts->n > 8)
		return fail(c, "%s must be an array of 1 to 8 schemas", "anyOf");
	ids = xcalloc(alts->n, sizeof(*ids));
	c->s->nodes[self].alts = ids;	/* the table never moves: nodes are stable */
	for (size_t i = 0; i < alts->n; i++)
	{
		char		idx[24];
		size_t		old = path_push(c, "anyOf");
		int			child;
		unsigned	f;

		snprintf(idx, sizeof idx, "%zu", i);
		path_push(c, idx);
		if ((child = compile_node(c, &alts->items[i], depth)) < 0)
			return -1;
		f = first_chars(c->s, (uint16_t) child);
		if (f & seen)
			return fail(c, "%s alternatives must be of different types (two of them start alike)",
						"anyOf");
		seen |= f;
		c->path[old] = '\0';
		ids[i] = (uint16_t) child;
		c->s->nodes[self].n_alts++;
	}
	return 0;
}

static int
compile_node(struct compiler *c, const struct json_value *v, int depth)
{
	struct json_schema *s = c->s;
	uint16_t	self;
	enum js_kind kind = JS_NULL;
	struct js_node *n;

	if (v->type != JSON_OBJECT)
		return fail(c, "a schema must be a JSON object, not %s", json_type_name(v->type));
	if (depth > JSON_SCHEMA_MAX_DEPTH)
		return fail(c, "nested more than %s levels deep", "16");
	if (s->n >= JSON_SCHEMA_MAX_NODES)
		return fail(c, "more than %s subschemas", "256");
	if (node_kind(c, v, &kind) < 0 || check_keywords(c, v, kind) < 0)
		return -1;
	self = s->n++;
	n = &s->nodes[self];
	n->kind = kind;
	n->max_items = UINT32_MAX;
	n->max_length = UINT32_MAX;
	n->minimum = -HUGE_VAL;
	n->maximum = HUGE_VAL;
	switch (kind)
	{
		case JS_OBJECT:
			if (compile_object(c, v, n, depth) < 0)
				return -1;
			break;
		case JS_ARRAY:
			if (compile_array(c, v, self, depth) < 0)
				return -1;
			break;
		case JS_STRING:
			if (compile_string(c, v, n) < 0)
				return -1;
			break;
		case JS_NUMBER:
		case JS_INTEGER:
			if (bound_keyword(c, v, "minimum", &n->minimum) < 0 ||
				bound_keyword(c, v, "maximum", &n->maximum) < 0)
				return -1;
			if (n->minimum > n->maximum ||
				(kind == JS_INTEGER && ceil(n->minimum) > floor(n->maximum)))
				return fail(c, "%s is above maximum: no value fits", "minimum");
			break;
		case JS_ANY_OF:
			if (compile_any_of(c, v, self, depth) < 0)
				return -1;
			break;
		case JS_BOOLEAN:
		case JS_NULL:
			break;
	}
	return self;
}

static void
names_free(struct js_names *names)
{
	for (uint16_t i = 0; i < names->n; i++)
		free(names->text[i]);
}

void
json_schema_free(struct json_schema *s)
{
	if (s == NULL)
		return;
	for (uint16_t i = 0; i < s->n; i++)
	{
		names_free(&s->nodes[i].props);
		names_free(&s->nodes[i].names);
		free(s->nodes[i].prop_node);
		free(s->nodes[i].alts);
	}
	free(s->nodes);
	free(s);
}

struct json_schema *
json_schema_compile(const char *text, size_t len, char *err)
{
	struct json_value *v = json_parse(text, len, err);
	struct compiler c = {0};
	int			root;

	if (v == NULL)
		return NULL;
	c.s = xcalloc(1, sizeof(*c.s));
	c.s->nodes = xcalloc(JSON_SCHEMA_MAX_NODES, sizeof(*c.s->nodes));
	c.err = err;
	root = compile_node(&c, v, 0);
	json_value_free(v);
	if (root < 0)
	{
		json_schema_free(c.s);
		return NULL;
	}
	c.s->root = (uint16_t) root;
	return c.s;
}
