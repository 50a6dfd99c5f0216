-- deepseek_r1 0.1.0: LLM inference served by a background worker.
\echo Use "CREATE EXTENSION deepseek_r1" to load this file. \quit

CREATE FUNCTION generate(
	prompt text,
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	system text DEFAULT NULL,
	raw boolean DEFAULT false,
	include_reasoning boolean DEFAULT false,
	choices text[] DEFAULT NULL,
	sparse text DEFAULT NULL,
	sparse_budget integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dr1_generate'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION generate IS
'The model''s answer to a prompt (chat template applied unless raw); reasoning removed unless include_reasoning; exactly one of choices when given';

CREATE FUNCTION generate_batch(
	prompts text[],
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	system text DEFAULT NULL,
	raw boolean DEFAULT false,
	include_reasoning boolean DEFAULT false,
	choices text[] DEFAULT NULL,
	sparse text DEFAULT NULL,
	sparse_budget integer DEFAULT NULL,
	schema jsonb DEFAULT NULL)
RETURNS text[]
AS 'MODULE_PATHNAME', 'dr1_generate_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION generate_batch IS
'generate for every prompt, all submitted at once and batched by the engine; answers in the order of the prompts, NULL for NULL; with schema each is JSON text that fits it';

CREATE FUNCTION generate_json(
	prompt text,
	schema jsonb,
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	system text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dr1_generate_json'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION generate_json IS
'A JSON value valid against the schema (a JSON Schema subset, README), the schema appended to the prompt; an ERROR when max_tokens cuts it short';

CREATE PROCEDURE enrich(
	tbl regclass,
	source text,
	target text,
	prompt_template text,
	batch_size integer DEFAULT 16,
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL,
	system text DEFAULT NULL,
	raw boolean DEFAULT false,
	include_reasoning boolean DEFAULT false,
	choices text[] DEFAULT NULL,
	sparse text DEFAULT NULL,
	sparse_budget integer DEFAULT NULL,
	schema jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'dr1_enrich'
LANGUAGE C;

COMMENT ON PROCEDURE enrich IS
'Sets the NULL target column of the table''s rows to the answer to prompt_template with {source} replaced by the source column, batch_size rows per committed transaction; with schema the answer is jsonb that fits it';

-- classify and filter (README, "Classify, filter, summarize"): the prompt is
-- instructions, the text, then "Answer with exactly one of: labels"; the
-- answer is forced to one label.  COST: each call is a model request.
CREATE FUNCTION classify(
	input text,
	labels text[],
	instructions text DEFAULT NULL,
	temperature double precision DEFAULT 0,
	seed bigint DEFAULT NULL,
	system text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dr1_classify'
LANGUAGE C VOLATILE PARALLEL RESTRICTED COST 100000;

COMMENT ON FUNCTION classify IS
'The one of labels that the model picks for the input (instructions default to "Classify the text.")';

CREATE FUNCTION classify_batch(
	inputs text[],
	labels text[],
	instructions text DEFAULT NULL,
	temperature double precision DEFAULT 0,
	seed bigint DEFAULT NULL,
	system text DEFAULT NULL)
RETURNS text[]
AS 'MODULE_PATHNAME', 'dr1_classify_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION classify_batch IS
'classify for every input as one call batched by the engine; labels in the order (and subscripts) of the inputs, NULL for NULL';

CREATE FUNCTION filter(
	input text,
	condition text,
	temperature double precision DEFAULT 0,
	seed bigint DEFAULT NULL,
	system text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr1_filter'
LANGUAGE C VOLATILE PARALLEL RESTRICTED COST 100000;

COMMENT ON FUNCTION filter IS
'Whether the input satisfies the condition: classify(input, ''{yes,no}'', ''Does the text satisfy this condition? '' || condition) = ''yes''';

CREATE FUNCTION filter_batch(
	inputs text[],
	condition text,
	temperature double precision DEFAULT 0,
	seed bigint DEFAULT NULL,
	system text DEFAULT NULL)
RETURNS boolean[]
AS 'MODULE_PATHNAME', 'dr1_filter_batch'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION filter_batch IS
'filter for every input as one call batched by the engine; in the order (and subscripts) of the inputs, NULL for NULL';

-- summarize_agg(text ORDER BY ...): map-reduce over batches of rows that fit
-- a model call.  The rows (NULLs skipped) are packed in order into batches
-- of at most 1024 tokens, each batch summarised (the map prompt below), and
-- the summaries packed and summarised again (the reduce prompt) until one
-- is left.  All the batches of a round are one generate_batch call, so the
-- engine decodes them together; a NOTICE gives the rows, model calls and
-- rounds.
CREATE FUNCTION summarize_agg_add(state text[], row_text text)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS 'SELECT array_append(state, row_text)';

CREATE FUNCTION summarize_agg_final(texts text[])
RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED
AS $$
DECLARE
	batch_tokens constant integer := 1024;
	map_prompt constant text := 'Summarise these texts in at most five sentences. Keep the facts '
		'that recur and the notable exceptions.' || E'\n\n';
	reduce_prompt constant text := 'These are summaries of consecutive parts of a larger set of '
		'texts. Combine them into one summary of at most five sentences.' || E'\n\n';
	parts text[] := texts;
	batches text[];
	cur text;
	cur_tokens integer;
	n integer;
	calls integer := 0;
	rounds integer := 0;
	part text;
BEGIN
	IF cardinality(texts) IS NULL OR cardinality(texts) = 0 THEN
		RETURN NULL;
	END IF;
	LOOP
		batches := '{}';
		cur := NULL;
		cur_tokens := 0;
		FOREACH part IN ARRAY parts LOOP
			n := @extschema@.count_tokens(part) + 2;
			IF cur IS NOT NULL AND cur_tokens + n > batch_tokens THEN
				batches := batches || cur;
				cur := NULL;
				cur_tokens := 0;
			END IF;
			cur := coalesce(cur || E'\n', '') || '- ' || part;
			cur_tokens := cur_tokens + n;
		END LOOP;
		batches := batches || cur;
		parts := @extschema@.generate_batch(
			array(SELECT CASE WHEN rounds = 0 THEN map_prompt ELSE reduce_prompt END || b
				  FROM unnest(batches) WITH ORDINALITY AS t(b, i) ORDER BY i),
			max_tokens => 160, temperature => 0);
		calls := calls + cardinality(batches);
		rounds := rounds + 1;
		EXIT WHEN cardinality(parts) = 1;
	END LOOP;
	RAISE NOTICE 'summarize_agg: % rows, % model calls in % rounds', cardinality(texts), calls, rounds;
	RETURN parts[1];
END $$;

CREATE AGGREGATE summarize_agg(text) (
	SFUNC = summarize_agg_add,
	STYPE = text[],
	INITCOND = '{}',
	FINALFUNC = summarize_agg_final
);

COMMENT ON AGGREGATE summarize_agg(text) IS
'A summary of the rows (in the ORDER BY given), map-reduced over batches of 1024 tokens; a NOTICE counts the model calls';

CREATE FUNCTION chat(
	messages jsonb,
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	stop text[] DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dr1_chat'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat IS
'OpenAI-style messages in; {content, reasoning_content, finish_reason, usage} out';

CREATE FUNCTION rag(
	question text,
	documents text[],
	max_tokens integer DEFAULT 512,
	temperature double precision DEFAULT 0.6,
	top_p double precision DEFAULT 0.95,
	top_k integer DEFAULT 40,
	seed bigint DEFAULT NULL,
	include_sources boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'dr1_rag'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION rag IS
'The model''s answer to the question from the numbered passages (README: the prompt); with include_sources, followed by the passages it cited';

-- The embedding model (deepseek_r1.embedding_model).  STABLE: within a
-- statement an input has one embedding, so ORDER BY emb <=> embed(q) can
-- use an index.  COST: a call is a model pass (milliseconds), so that the
-- planner prefers plans that call it once (an index scan) to plans that
-- call it for every row.
CREATE FUNCTION embed(input text, truncate boolean DEFAULT false)
RETURNS real[]
AS 'MODULE_PATHNAME', 'dr1_embed'
LANGUAGE C STABLE PARALLEL RESTRICTED COST 100000;

COMMENT ON FUNCTION embed IS
'The L2-normalised embedding of the input by the embedding model; an input over its limit is an error unless truncate';

CREATE FUNCTION embed_batch(inputs text[], truncate boolean DEFAULT false)
RETURNS SETOF real[]
AS 'MODULE_PATHNAME', 'dr1_embed_batch'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION embed_batch IS
'embed for every input, batched by the engine: one row per input in order (WITH ORDINALITY numbers them), NULL for NULL';

CREATE FUNCTION chunk(
	document text,
	max_tokens integer DEFAULT 256,
	overlap integer DEFAULT 32,
	OUT ord integer,
	OUT text text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr1_chunk'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION chunk IS
'The document in pieces of whole words of at most max_tokens tokens of the embedding model (special tokens included), each repeating about overlap tokens of the one before';

CREATE PROCEDURE embed_table(
	tbl regclass,
	source text,
	target text,
	batch_size integer DEFAULT 64,
	truncate boolean DEFAULT false)
AS 'MODULE_PATHNAME', 'dr1_embed_table'
LANGUAGE C;

COMMENT ON PROCEDURE embed_table IS
'Sets the NULL target column (real[] or vector) of the table''s rows with a non-empty source to the source''s embedding, batch_size rows per committed transaction';

CREATE FUNCTION tokenize(input text)
RETURNS integer[]
AS 'MODULE_PATHNAME', 'dr1_tokenize'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION detokenize(tokens integer[])
RETURNS text
AS 'MODULE_PATHNAME', 'dr1_detokenize'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION count_tokens(input text)
RETURNS integer
AS 'MODULE_PATHNAME', 'dr1_count_tokens'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION model_info()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dr1_model_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION status(
	OUT state text,
	OUT reason text,
	OUT model text,
	OUT worker_pid integer,
	OUT engine_pid integer,
	OUT ready_since timestamptz,
	OUT requests bigint,
	OUT requests_failed bigint,
	OUT requests_canceled bigint,
	OUT requests_in_flight integer,
	OUT engine_in_flight integer,
	OUT prompt_tokens bigint,
	OUT generated_tokens bigint,
	OUT engine_starts bigint,
	OUT last_engine_ms double precision,
	OUT engine_ms_total double precision,
	OUT prefill_tokens bigint,
	OUT preemptions bigint,
	OUT kv_blocks_used integer,
	OUT kv_blocks_total integer,
	OUT embedding_state text,
	OUT embedding_reason text,
	OUT embedding_model text,
	OUT embedding_engine_pid integer,
	OUT kv_cache_type text,
	OUT kv_cache_tokens bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr1_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION requests_internal(
	OUT pid integer,
	OUT state text,
	OUT prompt_tokens integer,
	OUT generated_tokens integer,
	OUT tokens_per_second double precision,
	OUT started timestamptz,
	OUT prompts integer,
	OUT prompts_done integer,
	OUT task text,
	OUT task_done bigint,
	OUT task_total bigint,
	OUT prefilled_tokens integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr1_requests'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW requests AS SELECT * FROM requests_internal();

-- Needs Citus only when called: the module looks for it at run time.
CREATE FUNCTION citus_progress(
	tbl regclass,
	target text,
	OUT node text,
	OUT port integer,
	OUT shards integer,
	OUT rows bigint,
	OUT rows_filled bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr1_citus_progress'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION citus_progress IS
'Per node of a Citus cluster: the shards of the table that it holds, their rows and how many of them have the target column set (committed rows, counted on the nodes)';

-- Inference is granted by an administrator, never to everyone by default.
REVOKE ALL ON FUNCTION generate(text, integer, double precision, double precision, integer,
	bigint, text[], text, boolean, boolean, text[], text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION generate_batch(text[], integer, double precision, double precision, integer,
	bigint, text[], text, boolean, boolean, text[], text, integer, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION generate_json(text, jsonb, integer, double precision, double precision,
	integer, bigint, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE enrich(regclass, text, text, text, integer, integer, double precision,
	double precision, integer, bigint, text[], text, boolean, boolean, text[], text, integer, jsonb)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION classify(text, text[], text, double precision, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION classify_batch(text[], text[], text, double precision, bigint, text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION filter(text, text, double precision, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION filter_batch(text[], text, double precision, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION summarize_agg_final(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION summarize_agg(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION chat(jsonb, integer, double precision, double precision, integer,
	bigint, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rag(text, text[], integer, double precision, double precision, integer,
	bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION embed(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION embed_batch(text[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION chunk(text, integer, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE embed_table(regclass, text, text, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION tokenize(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION detokenize(integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION count_tokens(text) FROM PUBLIC;

-- Everyone may look (status, model_info, requests); the grants above decide who may run.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON requests TO PUBLIC;
