-- A SQLite gateway keeps its challenges in memory (gateway/src/store/sqlite/challenges.rs):
-- the file has one owner, and a challenge lives minutes.
DROP TABLE challenges;
