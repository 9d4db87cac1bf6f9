DROP TABLE events;
DROP TABLE lottery_winners;
DROP TABLE lottery_entries;
DROP TABLE lotteries;
