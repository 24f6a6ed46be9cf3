-- Claims read only pending deliveries: in an index of those alone, a finished delivery's entry
-- is only removed (not moved to a part for its new status), and the index stays as small as
-- the backlog.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
-- Listings of failed deliveries, newest first, without a walk past every success.
CREATE INDEX deliveries_failed ON deliveries (seq) WHERE status = 'failed';
