-- A SQLite gateway keeps its registration tickets in memory, as its challenges
-- (gateway/src/store/sqlite/challenges.rs): the file has one owner, and a ticket lives
-- minutes; a restart costs a person one new signature.
DROP TABLE tickets;
