/*
 * json_schema.h — the JSON Schema subset that constrained decoding follows,
 * compiled from a schema's text into a flat table of nodes.
 *
 * Supported: type object (properties, required, additionalProperties as a
 * boolean), array (items, minItems, maxItems), string (enum, minLength,
 * maxLength, format "date" or "date-time"), number and integer (minimum,
 * maximum), boolean, null; enum of strings; anyOf of those whose
 * alternatives start with different characters (one object, one string,
 * one number, ...).  Annotations (title, description, $schema, $comment,
 * examples, default) are ignored.  Any other keyword is an error naming it:
 * a schema the decoder cannot honour is refused rather than half-followed.
 *
 * What is generated (json_machine.h): compact JSON, properties in the
 * order the schema lists them, strings free of \u escapes.
 */
#ifndef DR1_JSON_SCHEMA_H
#define DR1_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_SCHEMA_MAX_NODES 256
#define JSON_SCHEMA_MAX_DEPTH 16	/* nested objects and arrays */
#define JSON_SCHEMA_MAX_NAMES 64	/* properties of an object, strings of an enum */
#define JSON_SCHEMA_MAX_TEXT 256	/* bytes of a property name or an enum string */

enum js_kind
{
	JS_OBJECT,
	JS_ARRAY,
	JS_STRING,
	JS_NUMBER,
	JS_INTEGER,
	JS_BOOLEAN,
	JS_NULL,
	JS_ANY_OF
};

enum js_format
{
	JS_FORMAT_NONE,
	JS_FORMAT_DATE,
	JS_FORMAT_DATE_TIME
};

/* Strings as they appear between the quotes of the output: JSON-escaped. */
struct js_names
{
	uint16_t	n;
	char	   *text[JSON_SCHEMA_MAX_NAMES];
	uint16_t	len[JSON_SCHEMA_MAX_NAMES];
};

struct js_node
{
	enum js_kind kind;
	/* object: properties in schema order; required[i] as a bit */
	struct js_names props;
	uint16_t   *prop_node;
	uint64_t	required;
	/* array */
	uint16_t	items;
	uint32_t	min_items;
	uint32_t	max_items;		/* UINT32_MAX: no bound */
	/* string: an enum (names.n > 0) or free text */
	struct js_names names;
	enum js_format format;
	uint32_t	min_length;
	uint32_t	max_length;		/* UINT32_MAX: no bound; in characters */
	/* number, integer */
	double		minimum;		/* -HUGE_VAL: no bound */
	double		maximum;		/* HUGE_VAL: no bound */
	/* anyOf */
	uint16_t	n_alts;
	uint16_t   *alts;
};

struct json_schema
{
	struct js_node *nodes;
	uint16_t	n;
	uint16_t	root;
};

/* Compile a schema's text.  NULL with a message: invalid JSON, a schema
 * that is not an object, an unsupported keyword ("unsupported JSON Schema
 * keyword \"pattern\""), a bad value of a supported one. */
struct json_schema *json_schema_compile(const char *text, size_t len, char *err);
void		json_schema_free(struct json_schema *s);

#endif
