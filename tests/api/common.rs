//! Test harness: every test gets its own fresh database (a clone of a migrated PostgreSQL template,
//! or a new SQLite file) and its own application instance, driven through HTTP requests.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use actix_http::Request;
use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::web;
use diesel::prelude::*;
use diesel::sql_query;
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use karada::accounts::tokens::JwtKeys;
use karada::db::{self, DbConn, DbUrl, Pool};
use karada::http::{self, AppState, Settings, throttle::Throttle};

/// The secret the test apps sign with, so tests can forge tokens.
pub const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
/// A password that passes the rules.
pub const PASSWORD: &str = "correct horse battery staple";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn pg_server_url() -> String {
    std::env::var("KARADA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn pg_admin() -> PgConnection {
    let url = format!("{}/postgres", pg_server_url());
    PgConnection::establish(&url)
        .unwrap_or_else(|e| panic!("PostgreSQL is required for the test suite and could not be reached at {url}: {e}"))
}

/// Name of the migrated template database for the current migrations (hash of their files).
fn pg_template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut hasher = DefaultHasher::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut files: Vec<_> = walk(&dir);
        files.sort();
        for f in files {
            f.hash(&mut hasher);
            std::fs::read(&f).unwrap_or_default().hash(&mut hasher);
        }
        let name = format!("karada_tpl_{:016x}", hasher.finish());
        let mut admin = pg_admin();
        // Serialise template creation across test processes.
        sql_query("SELECT pg_advisory_lock(727274)")
            .execute(&mut admin)
            .expect("advisory lock");
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let exists = sql_query(format!(
            "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
        ))
        .get_result::<Count>(&mut admin)
        .expect("query pg_database")
        .n > 0;
        if !exists {
            let building = format!("{name}_building");
            sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                .execute(&mut admin)
                .expect("drop stale");
            sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .expect("create template");
            {
                let url = DbUrl::parse(&format!("{}/{building}", pg_server_url())).expect("url");
                let mut conn = url.connect().expect("connect to template");
                db::run_migrations(&mut conn).expect("migrate template");
            }
            sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut admin)
                .expect("rename");
        }
        sql_query("SELECT pg_advisory_unlock(727274)")
            .execute(&mut admin)
            .expect("advisory unlock");
        name
    })
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

/// A fresh database, dropped (PostgreSQL) or deleted (SQLite) when the test ends.
pub struct TestDb {
    pub url: DbUrl,
    /// The same URL as a string, for `DATABASE_URL`.
    pub url_string: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, migrated database.
    pub fn new(backend: Backend) -> Self {
        Self::create(backend, true)
    }

    /// A fresh, empty database (no migrations applied).
    pub fn empty(backend: Backend) -> Self {
        Self::create(backend, false)
    }

    fn create(backend: Backend, migrated: bool) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url_string = format!("sqlite://{}", dir.path().join("karada.db").display());
                let url = DbUrl::parse(&url_string).expect("url");
                if migrated {
                    let mut conn = url.connect().expect("sqlite connect");
                    db::run_migrations(&mut conn).expect("migrate sqlite");
                }
                TestDb {
                    url,
                    url_string,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("karada_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = pg_admin();
                let create = if migrated {
                    format!("CREATE DATABASE {name} TEMPLATE {}", pg_template())
                } else {
                    format!("CREATE DATABASE {name}")
                };
                sql_query(create).execute(&mut admin).expect("create test database");
                let url_string = format!("{}/{name}", pg_server_url());
                let url = DbUrl::parse(&url_string).expect("url");
                TestDb {
                    url,
                    url_string,
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// PostgreSQL only: forbids new connections to this database and terminates the open ones, as
    /// an outage would.
    pub fn kill_connections(&self) {
        let name = self.pg_name.as_ref().expect("PostgreSQL only");
        let mut admin = pg_admin();
        sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            .execute(&mut admin)
            .expect("block");
        sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .execute(&mut admin)
        .expect("terminate");
    }

    /// PostgreSQL only: lets connections in again after [`TestDb::kill_connections`].
    pub fn allow_connections(&self) {
        let name = self.pg_name.as_ref().expect("PostgreSQL only");
        sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
            .execute(&mut pg_admin())
            .expect("allow");
    }

    /// A direct connection, for setting up states the API cannot reach and checking the tables.
    pub fn conn(&self) -> DbConn {
        self.url.connect().expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            let mut admin = pg_admin();
            let _ = sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

type BoxedService = Box<
    dyn Service<
            Request,
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            Future = LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>,
        >,
>;

struct Boxing<S> {
    inner: S,
}

impl<S, B> Service<Request> for Boxing<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: actix_web::body::MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>;

    actix_web::dev::forward_ready!(inner);

    fn call(&self, req: Request) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map(|r| r.map_into_boxed_body()) })
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status and that an error is problem+json with a matching `status` member.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.raw)
        );
        if status >= 400 {
            assert_eq!(
                self.content_type(),
                "application/problem+json",
                "errors must be problem+json"
            );
            assert_eq!(self.body["status"], json!(status));
            assert!(self.body["type"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        }
        self
    }

    /// The `field` names of a 422's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A running application on its own database.
pub struct TestApp {
    pub db: TestDb,
    service: BoxedService,
}

/// A signed-in resident.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_throttle(backend, Throttle::new(5, 30)).await
    }

    pub async fn with_throttle(backend: Backend, throttle: Throttle) -> Self {
        Self::on(TestDb::new(backend), throttle).await
    }

    /// An application on an existing database.
    pub async fn on(db: TestDb, throttle: Throttle) -> Self {
        Self::on_with(db, throttle, Settings::default()).await
    }

    /// An application with settings other than the defaults (e.g. a smaller `k_min`).
    pub async fn with_settings(backend: Backend, settings: Settings) -> Self {
        Self::on_with(TestDb::new(backend), Throttle::new(5, 30), settings).await
    }

    /// An application on an existing database, with the given settings.
    pub async fn on_with(db: TestDb, throttle: Throttle, settings: Settings) -> Self {
        let pool: Pool = db::pool(&db.url, 4, std::time::Duration::from_secs(2)).expect("pool");
        let state = web::Data::new(AppState::new(pool, JwtKeys::new(TEST_SECRET), settings, throttle).expect("state"));
        let service = test::init_service(http::app(state)).await;
        TestApp {
            db,
            service: Box::new(Boxing { inner: service }),
        }
    }

    pub async fn send(&self, req: TestRequest) -> Resp {
        let res = self
            .service
            .call(req.to_request())
            .await
            .expect("the service answers every request");
        let status = res.status();
        let headers = res.headers().clone();
        let raw = test::read_body(res).await.to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = TestRequest::default().method(method).uri(path);
        if let Some(t) = token {
            req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Registers a resident with `email` and [`PASSWORD`].
    pub async fn register(&self, email: &str) -> Session {
        let r = self
            .post(
                "/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "birth_date": "1980-04-01", "sex": "female"}),
            )
            .await;
        r.expect(201);
        Session {
            user_id: r.body["user"]["id"].as_str().expect("id").to_owned(),
            access: r.body["access_token"].as_str().expect("access").to_owned(),
            refresh: r.body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Signs in again as an existing account: a new session.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let r = self
            .post("/v1/auth/login", None, json!({"email": email, "password": password}))
            .await;
        r.expect(200);
        let access = r.body["access_token"].as_str().expect("access").to_owned();
        let me = self.get("/v1/me", Some(&access)).await;
        Session {
            user_id: me.body["id"].as_str().unwrap_or_default().to_owned(),
            access,
            refresh: r.body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }
}

/// Declares each listed `async fn name(app: TestApp)` as two tests, `name::sqlite` and
/// `name::postgres`, each on a fresh database.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::common::TestApp::new($crate::common::Backend::Sqlite).await).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::common::TestApp::new($crate::common::Backend::Postgres).await).await
            }
        }
    )*};
}

/// Asserts an error answer: its status and its problem type `urn:karada:problem:<slug>`.
#[track_caller]
pub fn assert_problem(r: &Resp, status: u16, slug: &str) {
    r.expect(status);
    assert_eq!(
        r.body["type"],
        format!("urn:karada:problem:{slug}"),
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
}

/// An instant `d` from now, RFC 3339.
pub fn from_now(d: chrono::Duration) -> String {
    (chrono::Utc::now() + d).to_rfc3339()
}

/// Fixture: the account of `s` was created `days` ago. Points never pay for days before an account
/// existed, so a test that uploads past days makes its resident that old first.
pub fn backdate_account(app: &TestApp, s: &Session, days: i64) {
    use karada::db::schema::users;
    let id = karada::db::Id(s.user_id.parse().expect("user id"));
    diesel::update(users::table.find(id))
        .set(users::created_at.eq(karada::db::Ts(chrono::Utc::now() - chrono::Duration::days(days))))
        .execute(&mut app.db.conn())
        .expect("backdate the account");
}

/// The resident's local day in Tokyo (the test residents' timezone), `days` before today.
pub fn tokyo_day(days_ago: i64) -> chrono::NaiveDate {
    (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Tokyo) - chrono::Duration::days(days_ago)).date_naive()
}

/// A registered app's or kiosk's credentials.
#[derive(Debug, Clone)]
pub struct RegisteredApp {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl RegisteredApp {
    /// The `Authorization` header value its server sends.
    pub fn basic(&self) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.client_id, self.client_secret))
        )
    }
}

/// Fixture: an app or kiosk registered as an operator registers one (through the same store).
pub fn register_app(app: &TestApp, name: &str, kind: &str, scopes: &[&str], modality: &str) -> RegisteredApp {
    use karada::accounts::apps::{self, AppKind};
    use karada::accounts::tokens::{Modality, Scope};
    let scopes: Vec<Scope> = scopes.iter().map(|s| Scope::parse(s).expect("scope")).collect();
    let (registered, secret) = apps::register(
        &mut app.db.conn(),
        name,
        AppKind::parse(kind).expect("kind"),
        &scopes,
        Modality::parse(modality).expect("modality"),
    )
    .expect("register the app");
    RegisteredApp {
        id: registered.id.0.to_string(),
        client_id: registered.client_id,
        client_secret: secret,
    }
}

/// A `sensed` token of the resident `s` with `scopes`, as a registered device app named `name`
/// gets one: the resident makes a pairing code and the app's server claims it with its credentials.
pub async fn sensed_token(app: &TestApp, s: &Session, name: &str, scopes: &[&str]) -> String {
    let registered = register_app(app, name, "app", scopes, "sensed");
    let code = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await;
    code.expect(201);
    let claim = app
        .send(
            TestRequest::post()
                .uri("/v1/apps/claim")
                .insert_header((header::AUTHORIZATION, registered.basic()))
                .set_json(json!({"code": code.body["code"]})),
        )
        .await;
    claim.expect(201);
    assert_eq!(claim.body["modality"], "sensed");
    claim.body["token"].as_str().expect("token").to_owned()
}

/// Fixture: every rule of `programme` was created `days` ago (points never pay for days before a
/// rule existed; the seeded rules were created when the schema was).
pub fn backdate_rules(app: &TestApp, programme: &str, days: i64) {
    use karada::db::schema::reward_rules;
    diesel::update(reward_rules::table.filter(reward_rules::programme_id.eq(programme)))
        .set(reward_rules::created_at.eq(karada::db::Ts(chrono::Utc::now() - chrono::Duration::days(days))))
        .execute(&mut app.db.conn())
        .expect("backdate the rules");
}

impl TestApp {
    /// Sends a request and hands back the answer with its body unread (held, as a client that
    /// does not read would hold it).
    pub async fn raw(&self, req: Request) -> ServiceResponse<BoxBody> {
        self.service.call(req).await.expect("the service answers every request")
    }
}

// ---- fixtures shared by the test modules: operators, days, measurements, points ----

/// The seeded `osaka` programme's step-tier rule.
pub const STEPS_RULE: &str = "01a20000-0000-7000-8000-000000000001";
/// The seeded `osaka` programme's weighing rule.
pub const WEIGHT_RULE: &str = "01a20000-0000-7000-8000-000000000003";

/// Registers `ops@example.jp` and makes it an operator; its access token.
pub async fn admin(app: &TestApp) -> String {
    use karada::db::schema::users;
    let s = app.register("ops@example.jp").await;
    let id = karada::db::UserId(s.user_id.parse().unwrap());
    diesel::update(users::table.find(id))
        .set(users::role.eq("admin"))
        .execute(&mut app.db.conn())
        .unwrap();
    s.access
}

/// A local day `n` days before today in Tokyo (the test residents' timezone), as tests write dates.
pub fn day(n: i64) -> String {
    tokyo_day(n).to_string()
}

/// `day` at `hour`:00 in Tokyo as an RFC 3339 instant.
pub fn tokyo_at(day: impl std::fmt::Display, hour: u32) -> String {
    format!("{day}T{hour:02}:00:00+09:00")
}

/// A measurement of `kind` taken at the instant `at` with `values`, as a client uploads it.
pub fn measurement(kind: &str, at: &str, values: Value) -> Value {
    json!({"type": kind, "effective_at": at, "values": values})
}

/// A day's step total, taken at `hour` in Tokyo.
pub fn steps(day: impl std::fmt::Display, hour: u32, count: i64) -> Value {
    steps_at(&tokyo_at(day, hour), count)
}

/// A step total taken at the instant `at`.
pub fn steps_at(at: &str, count: i64) -> Value {
    measurement("steps", at, json!({ "count": count }))
}

/// A weighing at `hour` in Tokyo.
pub fn weight(day: impl std::fmt::Display, hour: u32, kg: f64) -> Value {
    measurement("body_weight", &tokyo_at(day, hour), json!({ "kg": kg }))
}

impl TestApp {
    /// Uploads one measurement with `token` (a login session's or an app's).
    pub async fn upload(&self, token: &str, body: Value) -> Resp {
        self.post("/v1/measurements", Some(token), body).await
    }
}

impl Resp {
    /// The status code.
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// Asserts that an upload was stored (201) or found already stored (200, a retry or an older
    /// daily total); the stored measurement.
    #[track_caller]
    pub fn stored(self) -> Value {
        assert!(
            matches!(self.code(), 200 | 201),
            "upload refused: {} {}",
            self.status,
            String::from_utf8_lossy(&self.raw)
        );
        self.body
    }
}

/// The resident's `osaka` balance through the API, checked against the ledger sum and the stored
/// balance row, which may never be negative.
pub async fn balance(app: &TestApp, s: &Session) -> i64 {
    use karada::db::schema::{points_balances, points_ledger};
    let r = app.get("/v1/points", Some(&s.access)).await;
    r.expect(200);
    let osaka = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["programme"]["id"] == "osaka")
        .unwrap();
    let b = osaka["balance"].as_i64().unwrap();
    let user = karada::db::UserId(s.user_id.parse().unwrap());
    let mut conn = app.db.conn();
    let deltas: Vec<i32> = points_ledger::table
        .filter(points_ledger::user_id.eq(user))
        .filter(points_ledger::programme_id.eq("osaka"))
        .select(points_ledger::delta)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        b,
        deltas.iter().map(|d| i64::from(*d)).sum::<i64>(),
        "balance must equal the ledger sum"
    );
    let stored: Option<i32> = points_balances::table
        .filter(points_balances::user_id.eq(user))
        .filter(points_balances::programme_id.eq("osaka"))
        .select(points_balances::balance)
        .first(&mut conn)
        .optional()
        .unwrap();
    assert_eq!(i64::from(stored.unwrap_or(0)), b, "the stored balance");
    assert!(b >= 0, "a balance is never negative");
    b
}

// ---- organisations, staff and consents, made through the API as an operator would ----

/// An organisation with its `org_admin`.
pub struct Org {
    pub id: String,
    pub name: String,
    pub admin: Session,
}

/// Registers `email` and gives it `role` in `org`.
pub async fn staff(app: &TestApp, ops: &str, org: &str, email: &str, role: &str) -> Session {
    let s = app.register(email).await;
    let r = app
        .post(
            &format!("/v1/admin/organizations/{org}/staff"),
            Some(ops),
            json!({"email": email, "role": role}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["user_id"], s.user_id.as_str());
    s
}

/// A new employer named `name` (as the operator `ops` creates it: differential privacy), with its
/// `org_admin` registered as `admin@<slug>.example.jp`.
pub async fn employer(app: &TestApp, ops: &str, name: &str, slug: &str) -> Org {
    let r = app
        .post(
            "/v1/admin/organizations",
            Some(ops),
            json!({"name": name, "kind": "employer"}),
        )
        .await;
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let admin = staff(app, ops, &id, &format!("admin@{slug}.example.jp"), "org_admin").await;
    Org {
        id,
        name: name.to_owned(),
        admin,
    }
}

/// Puts an organisation's statistics in `exact` mode (v1's k-anonymous answers), with a reason.
pub async fn exact_mode(app: &TestApp, ops: &str, org: &str) {
    app.call(
        Method::PUT,
        &format!("/v1/admin/organizations/{org}/privacy"),
        Some(ops),
        Some(json!({"mode": "exact", "reason": "tests of the k-anonymous answers"})),
    )
    .await
    .expect(200);
}

/// An open enrollment code of `org`, created by its `org_admin`.
pub async fn enrollment_code(app: &TestApp, org: &Org) -> String {
    let r = app
        .post(
            &format!("/v1/orgs/{}/enrollment-codes", org.id),
            Some(&org.admin.access),
            json!({}),
        )
        .await;
    r.expect(201);
    r.body["code"].as_str().unwrap().to_owned()
}

/// A consent to `org` for `types` at `access` (`aggregate` or `individual`) for `purpose`, that
/// shares the whole history (`data_from` long ago), as the tests upload data dated before it.
pub fn consent_body(org: &str, types: &[&str], access: &str, purpose: &str) -> Value {
    json!({"organization_id": org, "measurement_types": types, "access": access, "purpose": purpose,
           "data_from": "2000-01-01"})
}
