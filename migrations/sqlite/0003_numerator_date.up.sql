-- 0003_numerator_date (SQLite): the date a measure result's numerator was met.
--
-- A measurement year observed before its end (issue 7: the pipeline projects year-end rates from
-- data "as of" a date) needs to know when each compliant member became compliant: training
-- rebuilds, for the prior year, who was still open on the same day of the year, and the as-of
-- date of the current year is read from the latest date. NULL = not known (or numerator 0): a
-- met row without a date counts as met before any as-of date (docs/MODELS.md). When present the
-- date must lie in the measurement year and the numerator must be met.
ALTER TABLE measure_results ADD COLUMN numerator_date TEXT
    CHECK (numerator_date IS NULL OR
           (numerator = 1 AND length(numerator_date) = 10 AND date(numerator_date) = numerator_date
            AND CAST(substr(numerator_date, 1, 4) AS INTEGER) = measurement_year));
