//! A synthetic population for trying the service and for benchmarks: residents of plausible ages
//! and sexes with a period of daily steps and periodic kiosk measurements. Everything is written
//! through the same store functions as the API (`accounts::insert`, `measurements::record`).

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::accounts::tokens::Modality;
use crate::accounts::{self, NewUser, Role, Sex};
use crate::db::{DbUrl, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::measurements::{ItemResult, MeasurementInput, Uploader};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Residents to create.
    pub residents: usize,
    /// Days of history per resident, ending yesterday.
    pub days: u32,
    /// Seed of the random generator (the same seed gives the same population, emails aside).
    pub seed: u64,
    /// Parallel writers.
    pub threads: usize,
    /// argon2 hash of the password every demo account shares (hashed once: hashing per resident
    /// would dominate the run).
    pub password_hash: String,
    /// Distinguishes the emails of this run from earlier runs.
    pub run_id: String,
}

/// What was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    /// Residents created.
    pub residents: usize,
    /// Measurements stored.
    pub measurements: usize,
}

/// A normal deviate (Box–Muller), so no distribution crate is needed for demo data.
fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One resident's profile and history, as API inputs.
fn resident(rng: &mut StdRng, index: usize, plan: &Plan, today: NaiveDate) -> (NewUser, Vec<MeasurementInput>) {
    // Ages 20–89, weighted towards the working-age and retired population.
    let age = (20.0 + rng.random::<f64>().powf(0.9) * 69.0) as i64;
    let birth = today - Duration::days(age * 365 + rng.random_range(0..365));
    let female = rng.random_bool(0.52);
    let now = Ts::now();
    let user = NewUser {
        id: UserId::new(),
        email: format!("demo{index}.{}@example.invalid", plan.run_id),
        password_hash: plan.password_hash.clone(),
        display_name: Some(format!("Demo {index}")),
        birth_date: Some(birth),
        sex: if female { Sex::Female } else { Sex::Male }.as_str().to_owned(),
        timezone: accounts::DEFAULT_TIMEZONE.to_owned(),
        role: Role::Resident.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    };
    let agef = age as f64;
    let step_mean = (9000.0 - (agef - 40.0).max(0.0) * 60.0) * rng.random_range(0.6..1.3);
    let mut weight = if female {
        normal(rng, 55.0, 8.0)
    } else {
        normal(rng, 68.0, 10.0)
    }
    .clamp(35.0, 160.0);
    let sys_base = 108.0 + 0.55 * (agef - 20.0) + normal(rng, 0.0, 10.0);
    let vascular_offset = normal(rng, 0.0, 6.0);
    let mut items = Vec::new();
    let mut push = |kind: &str, day: NaiveDate, hour: u32, values: Value, i: &mut usize| {
        *i += 1;
        items.push(MeasurementInput {
            kind: kind.to_owned(),
            effective_at: format!("{day}T{hour:02}:{:02}:00+09:00", *i % 60),
            values: values.as_object().cloned().unwrap_or_else(Map::new),
            source: Some(if kind == "steps" { "phone" } else { "kiosk" }.to_owned()),
            client_ref: Some(format!("demo-{kind}-{day}")),
            note: None,
        });
    };
    let mut n = 0usize;
    for d in (1..=i64::from(plan.days)).rev() {
        let day = today - Duration::days(d);
        let steps = normal(rng, step_mean, step_mean * 0.35).clamp(0.0, 40000.0) as i64;
        push("steps", day, 21, json!({"count": steps}), &mut n);
        weight = (weight + normal(rng, 0.0, 0.15)).clamp(35.0, 160.0);
        if d % 7 == 0 {
            push("body_weight", day, 7, json!({"kg": round1(weight)}), &mut n);
            let sys = (sys_base + normal(rng, 0.0, 8.0)).clamp(85.0, 220.0);
            let dia = (sys * 0.63 + normal(rng, 0.0, 5.0)).clamp(45.0, sys - 15.0);
            push(
                "blood_pressure",
                day,
                7,
                json!({"systolic_mmhg": sys.round(), "diastolic_mmhg": dia.round()}),
                &mut n,
            );
        }
        if d % 30 == 0 {
            let vascular = (agef + vascular_offset + normal(rng, 0.0, 2.0)).clamp(18.0, 110.0);
            push(
                "vascular_age",
                day,
                11,
                json!({"vascular_age_years": vascular.round()}),
                &mut n,
            );
            let speed = (1.45 - 0.007 * (agef - 20.0) + normal(rng, 0.0, 0.12)).clamp(0.4, 2.2);
            push(
                "gait",
                day,
                11,
                json!({"walking_speed_m_s": (speed * 100.0).round() / 100.0,
                       "stride_length_cm": round1((speed * 55.0 + 10.0).clamp(30.0, 160.0)),
                       "cadence_steps_min": round1((speed * 60.0 / 0.7).clamp(60.0, 150.0))}),
                &mut n,
            );
            push(
                "capillary",
                day,
                11,
                json!({"capillary_density_per_mm": round1(normal(rng, 9.0, 1.8).clamp(3.0, 16.0)),
                       "morphology_score": normal(rng, 72.0, 12.0).clamp(10.0, 100.0).round()}),
                &mut n,
            );
        }
    }
    (user, items)
}

/// Generates the population into the database at `url`, `plan.threads` residents at a time.
pub fn generate(url: &DbUrl, plan: &Plan) -> AppResult<Generated> {
    let today = Utc::now().date_naive();
    let next = AtomicUsize::new(0);
    let stored = AtomicUsize::new(0);
    let threads = plan.threads.max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> AppResult<()> {
                    let mut conn = url.connect().map_err(|e| AppError::Unavailable(e.to_string()))?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= plan.residents {
                            return Ok(());
                        }
                        // One generator per resident, so the population does not depend on threading.
                        let mut rng = StdRng::seed_from_u64(plan.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                        let (user, items) = resident(&mut rng, i, plan, today);
                        let user = accounts::insert(&mut conn, &user)?;
                        let uploader = Uploader {
                            user_id: user.id,
                            modality: Modality::Sensed,
                            default_source: "kiosk".to_owned(),
                            timezone: crate::calendar::DEFAULT_TIMEZONE,
                            birth_date: user.birth_date,
                            sex: user.sex.clone(),
                            since: user.created_at,
                        };
                        let recorded = crate::usecases::upload::record(
                            &mut conn,
                            &uploader,
                            items.into_iter().map(Ok).collect(),
                            |_| String::new(),
                        )?;
                        let written = recorded
                            .iter()
                            .filter(|r| matches!(r, ItemResult::Done(o) if o.written().is_some()))
                            .count();
                        if let Some(ItemResult::Invalid(e)) =
                            recorded.iter().find(|r| matches!(r, ItemResult::Invalid(_)))
                        {
                            return Err(AppError::internal(format!("demo data failed validation: {e:?}")));
                        }
                        stored.fetch_add(written, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| AppError::internal("demo-data worker panicked"))??;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(Generated {
        residents: plan.residents,
        measurements: stored.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::validate::{Context, validate};

    #[test]
    fn every_generated_measurement_is_valid() {
        let plan = Plan {
            residents: 20,
            days: 60,
            seed: 7,
            threads: 1,
            password_hash: String::new(),
            run_id: "t".into(),
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let ctx = Context {
            now: "2026-11-24T12:00:00Z".parse().unwrap(),
            tz: crate::calendar::DEFAULT_TIMEZONE,
            default_source: "kiosk".into(),
        };
        for i in 0..plan.residents {
            let mut rng = StdRng::seed_from_u64(i as u64);
            let (user, items) = resident(&mut rng, i, &plan, today);
            assert!(user.birth_date.is_some());
            assert!(items.len() >= 60);
            for item in &items {
                if let Err(e) = validate(item, &ctx, "") {
                    panic!("{} {:?}: {e:?}", item.kind, item.values);
                }
            }
        }
    }
}
