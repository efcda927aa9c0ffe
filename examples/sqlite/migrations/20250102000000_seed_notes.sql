INSERT INTO notes (body) VALUES ('migrated by usher');
