CREATE INDEX visits_by_time ON visits (visited_at);
