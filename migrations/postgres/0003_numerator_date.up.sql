-- 0003_numerator_date (PostgreSQL): the date a measure result's numerator was met.
--
-- A measurement year observed before its end (issue 7: the pipeline projects year-end rates from
-- data "as of" a date) needs to know when each compliant member became compliant: training
-- rebuilds, for the prior year, who was still open on the same day of the year, and the as-of
-- date of the current year is read from the latest date. NULL = not known (or numerator false):
-- a met row without a date counts as met before any as-of date (docs/MODELS.md). When present the
-- date must lie in the measurement year and the numerator must be met.
ALTER TABLE measure_results ADD COLUMN numerator_date DATE;
ALTER TABLE measure_results ADD CONSTRAINT measure_results_numerator_date_check
    CHECK (numerator_date IS NULL OR
           (numerator AND extract(year FROM numerator_date) = measurement_year));
