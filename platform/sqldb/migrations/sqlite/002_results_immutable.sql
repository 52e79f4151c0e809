-- A job's result is written once: the database refuses to change it, so
-- that a cached result can never disagree with a row changed behind the
-- cache's back. Deleting it with its job stays allowed.
CREATE TRIGGER job_results_immutable BEFORE UPDATE ON job_results
BEGIN
    SELECT RAISE(ABORT, 'job_results are immutable once written');
END;
