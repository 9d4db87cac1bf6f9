-- A per-resident yearly layer over the monthly rollup, so that a query covering whole calendar
-- years reads one row per resident, year and age band instead of one per month. `months` is the
-- bit mask of the calendar months (bit 0 = January) the resident has data in, which is all the
-- monthly cells need from this layer: a cell's people are the rows with its bit set. Kept in the
-- write transaction with the monthly rows it sums.
CREATE TABLE measurement_rollup_years (
    user_id  blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     text NOT NULL,
    field    text NOT NULL,
    year     date NOT NULL,
    age_band text NOT NULL,
    sex      text NOT NULL,
    months   integer NOT NULL,
    n        integer NOT NULL,
    total    real NOT NULL,
    total_sq real NOT NULL,
    PRIMARY KEY (user_id, kind, field, year, age_band)
);
CREATE INDEX measurement_rollup_years_cell ON measurement_rollup_years (kind, field, year);

-- The same rows' bucket counts, each carrying its row's `months` so that a bucket row can be
-- placed without a join.
CREATE TABLE measurement_rollup_year_buckets (
    user_id  blob NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     text NOT NULL,
    field    text NOT NULL,
    year     date NOT NULL,
    age_band text NOT NULL,
    sex      text NOT NULL,
    months   integer NOT NULL,
    bucket   integer NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (user_id, kind, field, year, age_band, bucket)
);
CREATE INDEX measurement_rollup_year_buckets_cell ON measurement_rollup_year_buckets (kind, field, year);

INSERT INTO measurement_rollup_years (user_id, kind, field, year, age_band, sex, months, n, total, total_sq)
SELECT user_id, kind, field, strftime('%Y-01-01', month), age_band, min(sex),
       sum(1 << (CAST(strftime('%m', month) AS INTEGER) - 1)), sum(n), sum(total), sum(total_sq)
FROM measurement_rollups
GROUP BY user_id, kind, field, strftime('%Y-01-01', month), age_band;

INSERT INTO measurement_rollup_year_buckets (user_id, kind, field, year, age_band, sex, months, bucket, n)
SELECT b.user_id, b.kind, b.field, y.year, b.age_band, y.sex, y.months, b.bucket, sum(b.n)
FROM measurement_rollup_buckets b
JOIN measurement_rollup_years y
  ON y.user_id = b.user_id AND y.kind = b.kind AND y.field = b.field
 AND y.year = strftime('%Y-01-01', b.month) AND y.age_band = b.age_band
GROUP BY b.user_id, b.kind, b.field, y.year, b.age_band, y.sex, y.months, b.bucket;
