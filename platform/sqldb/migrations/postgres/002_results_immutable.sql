-- A job's result is written once: the database refuses to change it, so
-- that a cached result can never disagree with a row changed behind the
-- cache's back. Deleting it with its job stays allowed.
CREATE FUNCTION job_results_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'job_results are immutable once written';
END
$$;

CREATE TRIGGER job_results_immutable BEFORE UPDATE ON job_results
    FOR EACH ROW EXECUTE FUNCTION job_results_immutable();
