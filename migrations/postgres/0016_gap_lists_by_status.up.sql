-- 0016_gap_lists_by_status (PostgreSQL): gap_analysis' list indexes are partial, one set per
-- status, so that a status change writes into the indexes of its new status only.
--
-- A status change cannot be a HOT update (status is indexed), so PostgreSQL adds an entry for the
-- row's new version to every index of the table whose predicate the new version satisfies. With
-- the six list indexes of 0001 and 0004 (status among the columns of four, none partial) every
-- PATCH /gaps/{id} wrote eight index entries; index insertion was 45% of PostgreSQL's CPU under
-- that load (docs/BENCHMARKS.md, session 6). Each status now has its own partial indexes:
--   * identified (the work queue a plan's quality team slices to pick outreach): every list shape
--     of GET /gaps: by priority, by probability, by measure then priority, by contract then
--     priority, and by measure and contract then probability;
--   * assigned, completed, closed: by priority and by probability; their measure and contract
--     filters are applied while walking one of these in order.
-- Moving a gap out of identified writes four entries (primary key, unique key and the two of its
-- new status) instead of eight; a new gap writes seven. Lists name the status as a constant in
-- their SQL (store_pg.c builds one statement per status; without a status filter, one branch per
-- status merged in order), so that the planner can prove a partial index's predicate. The list
-- without any filter and the high-priority list, which used gaps_priority_idx, merge the
-- per-status indexes instead.
DROP INDEX gaps_status_priority_idx, gaps_status_probability_idx,
           gaps_measure_status_priority_idx, gaps_contract_status_priority_idx, gaps_priority_idx,
           gaps_status_measure_contract_prob_idx;

CREATE INDEX gaps_identified_priority_idx ON gap_analysis (priority_score DESC, gap_id)
    WHERE status = 'identified';
CREATE INDEX gaps_identified_probability_idx ON gap_analysis (gap_probability DESC, gap_id)
    WHERE status = 'identified';
CREATE INDEX gaps_identified_measure_priority_idx
    ON gap_analysis (measure_code, priority_score DESC, gap_id) WHERE status = 'identified';
CREATE INDEX gaps_identified_contract_priority_idx
    ON gap_analysis (contract_id, priority_score DESC, gap_id) WHERE status = 'identified';
CREATE INDEX gaps_identified_measure_contract_probability_idx
    ON gap_analysis (measure_code, contract_id, gap_probability DESC, gap_id)
    WHERE status = 'identified';
CREATE INDEX gaps_assigned_priority_idx ON gap_analysis (priority_score DESC, gap_id)
    WHERE status = 'assigned';
CREATE INDEX gaps_assigned_probability_idx ON gap_analysis (gap_probability DESC, gap_id)
    WHERE status = 'assigned';
CREATE INDEX gaps_completed_priority_idx ON gap_analysis (priority_score DESC, gap_id)
    WHERE status = 'completed';
CREATE INDEX gaps_completed_probability_idx ON gap_analysis (gap_probability DESC, gap_id)
    WHERE status = 'completed';
CREATE INDEX gaps_closed_priority_idx ON gap_analysis (priority_score DESC, gap_id)
    WHERE status = 'closed';
CREATE INDEX gaps_closed_probability_idx ON gap_analysis (gap_probability DESC, gap_id)
    WHERE status = 'closed';
