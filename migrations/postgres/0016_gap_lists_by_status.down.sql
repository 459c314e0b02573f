-- 0016_gap_lists_by_status (PostgreSQL) down: the list indexes of 0001 and 0004 again.
DROP INDEX gaps_identified_priority_idx, gaps_identified_probability_idx,
           gaps_identified_measure_priority_idx, gaps_identified_contract_priority_idx,
           gaps_identified_measure_contract_probability_idx, gaps_assigned_priority_idx,
           gaps_assigned_probability_idx, gaps_completed_priority_idx,
           gaps_completed_probability_idx, gaps_closed_priority_idx, gaps_closed_probability_idx;
CREATE INDEX gaps_status_priority_idx ON gap_analysis (status, priority_score DESC, gap_id);
CREATE INDEX gaps_status_probability_idx ON gap_analysis (status, gap_probability DESC, gap_id);
CREATE INDEX gaps_measure_status_priority_idx
    ON gap_analysis (measure_code, status, priority_score DESC, gap_id);
CREATE INDEX gaps_contract_status_priority_idx
    ON gap_analysis (contract_id, status, priority_score DESC, gap_id);
CREATE INDEX gaps_priority_idx ON gap_analysis (priority_score DESC, gap_id);
CREATE INDEX gaps_status_measure_contract_prob_idx
    ON gap_analysis (status, measure_code, contract_id, gap_probability DESC, gap_id);
