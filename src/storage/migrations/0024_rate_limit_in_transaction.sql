-- A rate limit taken inside the transaction of the work it guards (a message send): the bucket's row is
-- updated as before (RateLimitsRepository.take's statement), and a refusal fails the statement with
-- SQLSTATE HS429, so the send's transaction rolls back and the request costs no round trip of its own.
-- The detail is the milliseconds until the request would be allowed (retry_after_ms).
CREATE FUNCTION refuse_rate_limited(refused boolean, tokens float8, cost float8, per_second float8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF refused THEN
    RAISE EXCEPTION 'rate limited' USING ERRCODE = 'HS429', DETAIL = ceil((cost - tokens) / per_second * 1000)::bigint::text;
  END IF;
END
$$;
