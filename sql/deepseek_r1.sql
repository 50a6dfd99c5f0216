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
	($q$SELECT deepseek_r1.generate('x', seed => -1)$q$),
	($q$SELECT deepseek_r1.generate('x', stop => ARRAY['a', NULL])$q$),
	($q$SELECT deepseek_r1.generate('x', stop => ARRAY[''])$q$),
	($q$SELECT deepseek_r1.generate('x', raw => true, system => 'y')$q$),
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
	-- longer than the context (4096 tokens)
	($q$SELECT deepseek_r1.generate(repeat('hello ', 5000), max_tokens => 1)$q$)
) AS t(q);
-- nothing leaked
SELECT count(*) FROM deepseek_r1.requests;
SELECT requests_in_flight FROM deepseek_r1.status();

-- privileges: inference is not for PUBLIC until granted
CREATE ROLE dr1_regress_user;
SET ROLE dr1_regress_user;
SELECT pg_temp.err($q$SELECT deepseek_r1.generate('x', max_tokens => 1)$q$);
SELECT pg_temp.err($q$SELECT deepseek_r1.chat('[{"role": "user", "content": "x"}]', max_tokens => 1)$q$);
SELECT pg_temp.err($q$SELECT deepseek_r1.tokenize('x')$q$);
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
