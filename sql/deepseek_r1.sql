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
