-- pg_regress suite of deepseek_r1, run on SmolLM2-135M-Instruct-Q4_1 at
-- temperature 0 (see build/regress.conf).  The expected answers are the
-- deepseek-r1 program's own output for the same prompts, produced with
--   bin/deepseek-r1 generate -m SmolLM2-135M-Instruct-Q4_1.gguf -p PROMPT -n N --temp 0 [--raw] [--system S]
--   printf 'Hello world, 123 héllo 日本' | bin/deepseek-r1 tokenize -m SmolLM2-135M-Instruct-Q4_1.gguf
-- so SQL and the program must agree token for token.
CREATE EXTENSION deepseek_r1;
SELECT state, reason, engine_starts FROM deepseek_r1.status();

-- chat-templated and raw answers (program: see above)
SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0);
SELECT deepseek_r1.generate('Name a color.', max_tokens => 24, temperature => 0);
SELECT deepseek_r1.generate('Once upon a time', max_tokens => 24, temperature => 0, raw => true);
SELECT deepseek_r1.generate('Who are you?', max_tokens => 24, temperature => 0,
							system => 'You are a pirate.');
-- a stop string cuts the answer before it
SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0, stop => ARRAY['classic']);
-- seeds make sampling repeatable
SELECT deepseek_r1.generate('Name a color.', max_tokens => 8, temperature => 1, seed => 42)
	 = deepseek_r1.generate('Name a color.', max_tokens => 8, temperature => 1, seed => 42) AS same;

-- chat: the same conversation as generate's, and the shape of the answer
SELECT deepseek_r1.chat('[{"role": "user", "content": "What is 2+2?"}]', max_tokens => 24, temperature => 0);
SELECT r->>'content' AS content, r->'reasoning_content' AS reasoning, r->>'finish_reason' AS finish,
	   (r->'usage'->>'completion_tokens')::int AS completion,
	   (r->'usage'->>'total_tokens')::int = (r->'usage'->>'prompt_tokens')::int
		+ (r->'usage'->>'completion_tokens')::int AS total_ok,
	   jsonb_typeof(r->'usage') AS usage
FROM deepseek_r1.chat('[{"role": "system", "content": "You are a pirate."},
						{"role": "user", "content": "Who are you?"}]',
					  max_tokens => 24, temperature => 0) AS r;
SELECT deepseek_r1.chat('[{"role": "user", "content": "Hi"}]', max_tokens => 200, temperature => 0)->>'finish_reason';

-- the tokenizer (program: see above)
SELECT deepseek_r1.tokenize('Hello world, 123 héllo 日本');
SELECT deepseek_r1.count_tokens('Hello world, 123 héllo 日本');
SELECT deepseek_r1.detokenize(deepseek_r1.tokenize('Hello world, 123 héllo 日本'));
SELECT deepseek_r1.tokenize('');
SELECT deepseek_r1.detokenize('{}');

-- NULL in, NULL out
SELECT deepseek_r1.generate(NULL) IS NULL AS generate,
	   deepseek_r1.chat(NULL) IS NULL AS chat,
	   deepseek_r1.tokenize(NULL) IS NULL AS tokenize,
	   deepseek_r1.detokenize(NULL) IS NULL AS detokenize,
	   deepseek_r1.count_tokens(NULL) IS NULL AS count_tokens;
-- NULL parameters take their defaults
SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0, top_p => NULL,
							top_k => NULL, seed => NULL, stop => NULL, system => NULL);

-- model_info, status and the requests view
SELECT i->>'architecture' AS arch, i->>'n_vocab' AS n_vocab, i->>'chat_template' AS template,
	   i->>'context_length' AS ctx, i->>'device' AS device
FROM deepseek_r1.model_info() AS i;
SELECT state, requests > 0 AS served, requests_in_flight, engine_in_flight, last_engine_ms > 0 AS timed
FROM deepseek_r1.status();
SELECT count(*) FROM deepseek_r1.requests;

-- every bad argument: SQLSTATE and message
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.err(q) FROM (VALUES
	($q$SELECT deepseek_r1.generate('x', max_tokens => 0)$q$),
	($q$SELECT deepseek_r1.generate('x', max_tokens => 5000)$q$),
	($q$SELECT deepseek_r1.generate('x', temperature => -1)$q$),
	($q$SELECT deepseek_r1.generate('x', temperature => 'NaN')$q$),
	($q$SELECT deepseek_r1.generate('x', top_p => 0)$q$),
	($q$SELECT deepseek_r1.generate('x', top_p => 1.5)$q$),
	($q$SELECT deepseek_r1.generate('x', top_k => -1)$q$),
	($q$SELECT deepseek_r1.generate('x', top_k => 1000001)$q$),
	($q$SELECT deepseek_r1.generate('x', seed => -1)$q$),
	($q$SELECT deepseek_r1.generate('x', stop => ARRAY['a', NULL])$q$),
	($q$SELECT deepseek_r1.generate('x', stop => ARRAY[''])$q$),
	($q$SELECT deepseek_r1.generate('x', raw => true, system => 'y')$q$),
	($q$SELECT deepseek_r1.generate('x', sparse => 'yes')$q$),
	($q$SELECT deepseek_r1.generate('x', sparse => 'ON')$q$),
	($q$SELECT deepseek_r1.generate('x', sparse => 'on', sparse_budget => 63)$q$),
	($q$SELECT deepseek_r1.generate('x', sparse_budget => 16777217)$q$),
	($q$SET deepseek_r1.sparse_budget = 10$q$),
	($q$SET deepseek_r1.sparse_attention = 'sometimes'$q$),
	($q$SELECT deepseek_r1.chat('{"role": "user"}')$q$),
	($q$SELECT deepseek_r1.chat('[]')$q$),
	($q$SELECT deepseek_r1.chat('[1]')$q$),
	($q$SELECT deepseek_r1.chat('[{"role": "robot", "content": "x"}]')$q$),
	($q$SELECT deepseek_r1.chat('[{"role": "user"}]')$q$),
	($q$SELECT deepseek_r1.chat('[{"role": "user", "content": 1}]')$q$),
	($q$SELECT deepseek_r1.chat('[{"role": "user", "content": "x"}]', top_p => 2)$q$),
	($q$SELECT deepseek_r1.detokenize('{-1}')$q$),
	($q$SELECT deepseek_r1.detokenize('{49152}')$q$),
	($q$SELECT deepseek_r1.detokenize('{1,NULL}')$q$),
	-- the limits of one request (README)
	($q$SELECT deepseek_r1.detokenize(array_fill(1, ARRAY[262145]))$q$),
	($q$SELECT deepseek_r1.count_tokens(repeat('a', 8388609))$q$),
	($q$SELECT deepseek_r1.generate('x', system => repeat('a', 8388609))$q$),
	-- longer than the context (4096 tokens)
	($q$SELECT deepseek_r1.generate(repeat('hello ', 5000), max_tokens => 1)$q$)
) AS t(q);

-- sparse attention while decoding: a budget covering the whole context is
-- dense bit for bit; a small one still answers (the prompt is dense)
SELECT deepseek_r1.generate(repeat('The sky is blue. ', 40) || 'What color is the sky?',
							max_tokens => 32, temperature => 0, sparse => 'on', sparse_budget => 4096)
	 = deepseek_r1.generate(repeat('The sky is blue. ', 40) || 'What color is the sky?',
							max_tokens => 32, temperature => 0) AS full_budget_is_dense;
SELECT length(deepseek_r1.generate(repeat('The sky is blue. ', 40) || 'What color is the sky?',
								   max_tokens => 32, temperature => 0, sparse => 'on',
								   sparse_budget => 64)) > 0 AS sparse_answers;
SET deepseek_r1.sparse_attention = 'auto';
SET deepseek_r1.sparse_min_context = 100000;
SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0)
	 = deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0, sparse => 'off')
	 AS auto_below_min_context_is_dense;
RESET deepseek_r1.sparse_attention;
RESET deepseek_r1.sparse_min_context;
SELECT kv_cache_type, kv_cache_tokens = kv_blocks_total * 32 AS tokens,
	   deepseek_r1.model_info()->>'kv_cache_type' AS info_type,
	   (deepseek_r1.model_info()->>'kv_cache_tokens')::bigint = kv_cache_tokens AS info_tokens
FROM deepseek_r1.status();

-- generate_batch: the answers of generate, in order, NULL for NULL, the
-- subscripts kept
SELECT deepseek_r1.generate_batch(ARRAY['What is 2+2?', NULL, 'Name a color.'], max_tokens => 24,
								  temperature => 0);
SELECT deepseek_r1.generate_batch(ARRAY['What is 2+2?', 'Name a color.', 'Once upon a time'],
								  max_tokens => 24, temperature => 0)
	 = ARRAY[deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0),
			 deepseek_r1.generate('Name a color.', max_tokens => 24, temperature => 0),
			 deepseek_r1.generate('Once upon a time', max_tokens => 24, temperature => 0)] AS same;
SELECT deepseek_r1.generate_batch('[0:1]={"Once upon a time",NULL}', max_tokens => 24,
								  temperature => 0, raw => true);
SELECT deepseek_r1.generate_batch(NULL) IS NULL AS null_array,
	   deepseek_r1.generate_batch('{}') AS empty,
	   deepseek_r1.generate_batch('{NULL,NULL}') AS nulls;

-- choices: the answer is one of the labels
SELECT deepseek_r1.generate('Is an apple a fruit or a vegetable?', temperature => 0,
							choices => ARRAY['fruit', 'vegetable']);
SELECT p, a, a = ANY (ARRAY['positive', 'negative', 'neutral']) AS listed
FROM unnest(ARRAY['I love this product!', 'This is the worst day ever.', 'The meeting is at 3 pm.'],
			deepseek_r1.generate_batch(ARRAY['I love this product!', 'This is the worst day ever.',
											 'The meeting is at 3 pm.'],
									   temperature => 0, system => 'Classify the sentiment of the text.',
									   choices => ARRAY['positive', 'negative', 'neutral'])) AS t(p, a);

-- enrich: fills the NULL targets in committed batches, a NOTICE per batch
CREATE TABLE produce (name text, kind varchar(20), note text);
INSERT INTO produce VALUES ('apple', NULL, NULL), ('carrot', NULL, NULL), (NULL, NULL, NULL),
	('banana', 'fruit', NULL), ('onion', NULL, NULL), ('cherry', NULL, NULL);
CALL deepseek_r1.enrich('produce', 'name', 'kind', 'Is {source} a fruit or a vegetable?',
						batch_size => 2, temperature => 0, choices => ARRAY['fruit', 'vegetable']);
SELECT name, kind FROM produce ORDER BY name;
-- nothing left to do: no batch, no request
SELECT requests AS before FROM deepseek_r1.status() \gset
CALL deepseek_r1.enrich('produce', 'name', 'kind', 'Is {source} a fruit or a vegetable?');
SELECT requests - :before AS requests FROM deepseek_r1.status();

-- the engine's counters: prefix sharing computed fewer prompt tokens than
-- were sent (the same prompts came several times), and once the engine is
-- idle (it says so within moments) no KV block is held
CREATE FUNCTION pg_temp.engine_idle() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..100 LOOP
		IF (SELECT engine_in_flight = 0 AND kv_blocks_used = 0 FROM deepseek_r1.status()) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;
SELECT pg_temp.engine_idle();
SELECT prefill_tokens < prompt_tokens AS shared, preemptions, kv_blocks_used,
	   kv_blocks_total > 0 AS pool
FROM deepseek_r1.status();

-- bad arguments of generate_batch, choices and enrich
CREATE VIEW produce_view AS SELECT * FROM produce;
SELECT pg_temp.err(q) FROM (VALUES
	($q$SELECT deepseek_r1.generate_batch('{{a,b},{c,d}}')$q$),
	($q$SELECT deepseek_r1.generate_batch(array_fill('x'::text, ARRAY[1025]))$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', max_tokens => 0)$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', top_p => 2)$q$),
	($q$SELECT deepseek_r1.generate_batch(ARRAY['x', repeat('hello ', 5000)], max_tokens => 1)$q$),
	($q$SELECT deepseek_r1.generate('x', choices => '{}')$q$),
	($q$SELECT deepseek_r1.generate('x', choices => ARRAY['a', NULL])$q$),
	($q$SELECT deepseek_r1.generate('x', choices => ARRAY['a', ''])$q$),
	($q$SELECT deepseek_r1.generate('x', choices => '{{a,b},{c,d}}')$q$),
	($q$SELECT deepseek_r1.generate('x', choices => array_fill('x'::text, ARRAY[65]))$q$),
	($q$SELECT deepseek_r1.generate('x', choices => ARRAY['a', 'a'])$q$),
	($q$SELECT deepseek_r1.generate('x', choices => ARRAY['a'], stop => ARRAY['b'])$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', choices => ARRAY['a', NULL])$q$),
	($q$CALL deepseek_r1.enrich('no_such_table', 'name', 'kind', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce_view', 'name', 'kind', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'nme', 'kind', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'knd', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'xmin', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'name', '{source}')$q$),
	($q$CALL deepseek_r1.enrich(NULL, 'name', 'kind', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', NULL, 'kind', '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', NULL, '{source}')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', NULL)$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', 'no placeholder')$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', '{source}', batch_size => 0)$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', '{source}', batch_size => 1025)$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', '{source}', temperature => -1)$q$),
	($q$CALL deepseek_r1.enrich('produce', 'name', 'kind', '{source}', choices => '{}')$q$),
	-- a function's CALL is atomic: enrich could not commit its batches
	($q$CALL deepseek_r1.enrich('produce', 'name', 'note', '{source}')$q$)
) AS t(q);
ALTER TABLE produce ADD COLUMN weight int;
SELECT pg_temp.err($q$CALL deepseek_r1.enrich('produce', 'name', 'weight', '{source}')$q$);
SELECT count(*) FILTER (WHERE note IS NOT NULL) AS notes FROM produce;
DROP TABLE produce CASCADE;

-- generate_json: the answer fits the schema (program, with the schema's
-- jsonb text as printed here:
--   bin/deepseek-r1 generate -m SmolLM2-135M-Instruct-Q4_1.gguf --temp 0 -n 512 -p PROMPT --schema TEXT)
CREATE TABLE pg_temp.schemas (name text, schema jsonb);
INSERT INTO pg_temp.schemas VALUES
	('customer', '{"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
	  "age": {"type": "integer", "minimum": 0, "maximum": 120},
	  "topic": {"enum": ["billing", "bug", "other"]}}, "required": ["name", "age", "topic"]}'),
	('tags', '{"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3}');
SELECT name, schema::text FROM pg_temp.schemas ORDER BY name;
SELECT deepseek_r1.generate_json('Extract the customer: Hi, I''m Maria Lopez, 34, and my invoice is wrong.',
								 schema, temperature => 0)
FROM pg_temp.schemas WHERE name = 'customer';
-- sampled answers fit too, whatever the seed
SELECT count(*) AS answers,
	   count(*) FILTER (WHERE jsonb_typeof(j) = 'array' AND jsonb_array_length(j) BETWEEN 1 AND 3
						AND NOT jsonb_path_exists(j, '$[*] ? (@.type() != "string" || @.size() > 12)')
						AND NOT EXISTS (SELECT FROM jsonb_array_elements_text(j) e
										WHERE length(e) > 12)) AS valid
FROM pg_temp.schemas, generate_series(1, 4) AS seed,
	 deepseek_r1.generate_json('Three tags for: my parcel arrived broken', schema,
							   temperature => 1, seed => seed) AS j
WHERE name = 'tags';
-- generate_batch with a schema: JSON texts, the same as generate_json's
SELECT a::jsonb = deepseek_r1.generate_json('Extract the customer: Hi, I''m Maria Lopez, 34, and my invoice is wrong.',
											schema, temperature => 0) AS same
FROM pg_temp.schemas,
	 unnest(deepseek_r1.generate_batch(ARRAY['Extract the customer: Hi, I''m Maria Lopez, 34, and my invoice is wrong.'],
									   temperature => 0, schema => schema)) AS a
WHERE name = 'customer';
-- enrich with a schema fills a jsonb column
CREATE TABLE tickets (id int, body text, facts jsonb);
INSERT INTO tickets VALUES
	(1, 'I was charged twice for my subscription this month.', NULL),
	(2, 'The app crashes when I upload a photo.', NULL),
	(3, 'How do I change my email address?', NULL);
CALL deepseek_r1.enrich('tickets', 'body', 'facts', 'Describe this support ticket: {source}',
						temperature => 0, schema => '{"type": "object", "properties": {
						  "category": {"enum": ["billing", "bug", "account"]},
						  "urgent": {"type": "boolean"}}, "required": ["category", "urgent"]}');
SELECT id, facts->>'category' IN ('billing', 'bug', 'account') AS category,
	   jsonb_typeof(facts->'urgent') AS urgent FROM tickets ORDER BY id;
-- an answer max_tokens cuts short is an error, not broken JSON
SELECT pg_temp.err($q$SELECT deepseek_r1.generate_json('Describe a cat.',
	'{"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}',
	max_tokens => 3, temperature => 0)$q$);

-- classify: one of the labels; classify_batch gives what classify gives row by row
SELECT id, deepseek_r1.classify(body, ARRAY['billing', 'bug', 'account']) AS label FROM tickets ORDER BY id;
SELECT deepseek_r1.classify_batch(array_agg(body ORDER BY id), ARRAY['billing', 'bug', 'account'])
	 = array_agg(deepseek_r1.classify(body, ARRAY['billing', 'bug', 'account']) ORDER BY id) AS same
FROM tickets;
-- filter: in WHERE and in a JOIN, equal to classify with yes/no at temperature 0,
-- and filter_batch to filter row by row
SELECT id FROM tickets WHERE deepseek_r1.filter(body, 'the customer mentions money') ORDER BY id;
SELECT t.id, c.label FROM tickets t
JOIN (VALUES ('money'), ('a software defect'), ('the weather in Paris')) AS c(label)
  ON deepseek_r1.filter(t.body, 'the text is about ' || c.label)
ORDER BY t.id, c.label;
SELECT bool_and(deepseek_r1.filter(body, c)
				= (deepseek_r1.classify(body, ARRAY['yes', 'no'],
										'Does the text satisfy this condition? ' || c) = 'yes')) AS same
FROM tickets, (VALUES ('the customer mentions money'), ('it is a question')) AS t(c);
SELECT deepseek_r1.filter_batch(array_agg(body ORDER BY id), 'it is a question')
	 = array_agg(deepseek_r1.filter(body, 'it is a question') ORDER BY id) AS same,
	   deepseek_r1.filter_batch('[0:1]={NULL,x}', 'c')::text LIKE '[0:1]={NULL,%' AS nulls
FROM tickets;
SELECT deepseek_r1.classify(NULL, ARRAY['a', 'b']) IS NULL AS null_input,
	   deepseek_r1.filter(NULL, 'c') IS NULL AS null_filter;

-- summarize_agg: more rows than one model call takes (1024 tokens), map-reduced;
-- the NOTICE counts the model calls
CREATE TABLE reviews (id int, body text);
INSERT INTO reviews SELECT i, format('Review %s: the %s arrived %s and works %s. %s', i,
	(ARRAY['kettle', 'toaster', 'blender'])[1 + i % 3], (ARRAY['on time', 'late', 'damaged'])[1 + i % 3],
	(ARRAY['well', 'badly', 'fine'])[1 + i % 3], repeat('Customer service was polite. ', 6))
FROM generate_series(1, 40) AS i;
SELECT length(deepseek_r1.summarize_agg(body ORDER BY id)) > 0 AS summary FROM reviews;
SELECT deepseek_r1.summarize_agg(body) IS NULL AS empty FROM reviews WHERE false;

-- bad arguments of generate_json, schemas, classify and filter
SELECT pg_temp.err(q) FROM (VALUES
	($q$SELECT deepseek_r1.generate_json('x', '[1, 2]')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '"string"')$q$),
	($q$SELECT deepseek_r1.generate_json('x', NULL)$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{"type": "string", "pattern": "^a"}')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{"type": "object", "properties": {"a": {"type": "string", "format": "email"}}}')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{"type": "array"}')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{}')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{"type": "integer", "minimum": 5, "maximum": 1}')$q$),
	($q$SELECT deepseek_r1.generate_json('x', '{"type": "null"}', max_tokens => 0)$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', schema => '{"type": "null"}', choices => ARRAY['a'])$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', schema => '{"type": "null"}', stop => ARRAY['a'])$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', schema => '3')$q$),
	($q$SELECT deepseek_r1.generate_batch('{x}', schema => '{"type": "oops"}')$q$),
	($q$CALL deepseek_r1.enrich('tickets', 'body', 'facts', '{source}', schema => '[]')$q$),
	($q$SELECT deepseek_r1.classify('x', '{}')$q$),
	($q$SELECT deepseek_r1.classify('x', NULL)$q$),
	($q$SELECT deepseek_r1.classify('x', ARRAY['a', 'a'])$q$),
	($q$SELECT deepseek_r1.classify('x', ARRAY['a', NULL])$q$),
	($q$SELECT deepseek_r1.classify('x', ARRAY['a', ''])$q$),
	($q$SELECT deepseek_r1.classify('x', '{{a,b},{c,d}}')$q$),
	($q$SELECT deepseek_r1.classify('x', array_fill('x'::text, ARRAY[65]))$q$),
	($q$SELECT deepseek_r1.classify('x', ARRAY['a', 'b'], temperature => -1)$q$),
	($q$SELECT deepseek_r1.classify_batch('{x}', ARRAY['a', 'a'])$q$),
	($q$SELECT deepseek_r1.classify_batch(array_fill('x'::text, ARRAY[1025]), ARRAY['a'])$q$),
	($q$SELECT deepseek_r1.filter('x', NULL)$q$),
	($q$SELECT deepseek_r1.filter('x', '')$q$),
	($q$SELECT deepseek_r1.filter_batch('{x}', NULL)$q$),
	($q$SELECT deepseek_r1.filter('x', 'c', seed => -1)$q$)
) AS t(q);
DROP TABLE tickets, reviews;

-- nothing leaked
SELECT count(*) FROM deepseek_r1.requests;
SELECT requests_in_flight, pg_temp.engine_idle() FROM deepseek_r1.status();

-- privileges: inference is not for PUBLIC until granted
CREATE ROLE dr1_regress_user;
SET ROLE dr1_regress_user;
SELECT pg_temp.err($q$SELECT deepseek_r1.generate('x', max_tokens => 1)$q$);
SELECT pg_temp.err($q$SELECT deepseek_r1.chat('[{"role": "user", "content": "x"}]', max_tokens => 1)$q$);
SELECT pg_temp.err($q$SELECT deepseek_r1.tokenize('x')$q$);
SELECT pg_temp.err($q$SELECT deepseek_r1.generate_batch('{x}', max_tokens => 1)$q$);
SELECT pg_temp.err($q$CALL deepseek_r1.enrich('pg_class', 'relname', 'relname', '{source}')$q$);
SELECT state FROM deepseek_r1.status();
SELECT count(*) FROM deepseek_r1.requests;
SELECT i->>'architecture' FROM deepseek_r1.model_info() AS i;
RESET ROLE;
GRANT EXECUTE ON FUNCTION deepseek_r1.generate TO dr1_regress_user;
SET ROLE dr1_regress_user;
SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0);
RESET ROLE;
SELECT pg_temp.err($q$SET deepseek_r1.max_tokens_limit = 10$q$);
SET ROLE dr1_regress_user;
SELECT pg_temp.err($q$SET deepseek_r1.max_tokens_limit = 10$q$);
SELECT pg_temp.err($q$SHOW deepseek_r1.model$q$);
RESET ROLE;
DROP OWNED BY dr1_regress_user;
DROP ROLE dr1_regress_user;
