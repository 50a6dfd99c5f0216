-- deepseek_r1_vector 0.1.0: pgvector's distance operators with a real[]
-- on one side, so that
--     ORDER BY emb <=> deepseek_r1.embed(question) LIMIT k
-- resolves without a cast (pgvector's real[] -> vector cast is an
-- assignment cast, which operator resolution does not apply) and is still
-- answered by an HNSW or IVFFlat index on emb.
--
-- Each operator's function is LANGUAGE sql, IMMUTABLE STRICT, without SET
-- or SECURITY DEFINER, and its body is pgvector's operator on the cast
-- argument: the planner inlines it, so the ORDER BY expression it matches
-- against the index's operator class is pgvector's own
-- (emb <=> array_to_vector(...)).  The bodies are SQL-standard (RETURN):
-- parsed here, with vector's schema on the script's search_path, so a
-- caller's search_path cannot change what they mean.
--
-- The operators go into the schema the extension is created in (the first
-- of search_path unless CREATE EXTENSION ... SCHEMA says otherwise); it
-- must be on the users' search_path, like vector's.  embed_vector goes into
-- deepseek_r1 beside embed.
\echo Use "CREATE EXTENSION deepseek_r1_vector" to load this file. \quit

CREATE FUNCTION real_array_cosine_distance(vector, real[])
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1 <=> $2::vector;

CREATE FUNCTION real_array_cosine_distance(real[], vector)
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1::vector <=> $2;

CREATE FUNCTION real_array_l2_distance(vector, real[])
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1 <-> $2::vector;

CREATE FUNCTION real_array_l2_distance(real[], vector)
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1::vector <-> $2;

CREATE FUNCTION real_array_negative_inner_product(vector, real[])
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1 <#> $2::vector;

CREATE FUNCTION real_array_negative_inner_product(real[], vector)
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN $1::vector <#> $2;

CREATE OPERATOR <=> (
	LEFTARG = vector, RIGHTARG = real[], FUNCTION = real_array_cosine_distance,
	COMMUTATOR = '<=>'
);

CREATE OPERATOR <=> (
	LEFTARG = real[], RIGHTARG = vector, FUNCTION = real_array_cosine_distance,
	COMMUTATOR = '<=>'
);

CREATE OPERATOR <-> (
	LEFTARG = vector, RIGHTARG = real[], FUNCTION = real_array_l2_distance,
	COMMUTATOR = '<->'
);

CREATE OPERATOR <-> (
	LEFTARG = real[], RIGHTARG = vector, FUNCTION = real_array_l2_distance,
	COMMUTATOR = '<->'
);

CREATE OPERATOR <#> (
	LEFTARG = vector, RIGHTARG = real[], FUNCTION = real_array_negative_inner_product,
	COMMUTATOR = '<#>'
);

CREATE OPERATOR <#> (
	LEFTARG = real[], RIGHTARG = vector, FUNCTION = real_array_negative_inner_product,
	COMMUTATOR = '<#>'
);

COMMENT ON OPERATOR <=> (vector, real[]) IS 'cosine distance; inlined to vector <=> vector, so a vector_cosine_ops index orders by it';
COMMENT ON OPERATOR <=> (real[], vector) IS 'cosine distance; inlined to vector <=> vector';
COMMENT ON OPERATOR <-> (vector, real[]) IS 'Euclidean distance; inlined to vector <-> vector, so a vector_l2_ops index orders by it';
COMMENT ON OPERATOR <-> (real[], vector) IS 'Euclidean distance; inlined to vector <-> vector';
COMMENT ON OPERATOR <#> (vector, real[]) IS 'negative inner product; inlined to vector <#> vector, so a vector_ip_ops index orders by it';
COMMENT ON OPERATOR <#> (real[], vector) IS 'negative inner product; inlined to vector <#> vector';

-- The embedding as a vector, for what takes a vector and no real[]:
-- pgvector's functions (cosine_distance, binary_quantize, subvector, ...),
-- a halfvec cast, or two embeddings compared with each other.  Its body
-- calls deepseek_r1.embed(text, boolean), which must exist when this
-- extension is created, and is that call with the cast: the same
-- arguments, NULL handling (not STRICT, as embed is not), volatility
-- (STABLE: in ORDER BY emb <=> embed_vector(q) an index scan computes it
-- once) and parallel safety, so the planner inlines it.  Like embed it runs
-- inference, so PUBLIC may not call it.
CREATE FUNCTION deepseek_r1.embed_vector(input text, truncate boolean DEFAULT false)
RETURNS vector
LANGUAGE sql STABLE PARALLEL RESTRICTED
RETURN deepseek_r1.embed(input, truncate)::vector;

COMMENT ON FUNCTION deepseek_r1.embed_vector(text, boolean) IS
'deepseek_r1.embed(input, truncate) as a pgvector vector';

REVOKE ALL ON FUNCTION deepseek_r1.embed_vector(text, boolean) FROM PUBLIC;
