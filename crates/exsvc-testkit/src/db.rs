//! A fresh database per test: `CREATE DATABASE … TEMPLATE …` from a template that
//! is migrated once per run (per migrations content), shared safely by every test
//! process through an advisory lock.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use diesel::sql_types::Bool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/postgres");
const TEMPLATE_LOCK_KEY: i64 = 0x6578_7376_635f_7470; // "exsvc_tp"

/// The maintenance database of the test server: `EXSVC_TEST_DATABASE_URL`, else
/// the machine's local PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("EXSVC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of database `name` on the same server as `admin_url()`.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("EXSVC_TEST_DATABASE_URL has no database path: {admin}"),
    }
}

async fn admin_connection() -> AsyncPgConnection {
    let url = admin_url();
    AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {url}: {e}")
        })
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn hash_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        path.file_name().hash(hasher);
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else {
            std::fs::read(&path).unwrap_or_default().hash(hasher);
        }
    }
}

/// Named after the migrations' content, so a changed migration gets a new template.
fn template_name() -> String {
    let mut hasher = DefaultHasher::new();
    hash_dir(Path::new(MIGRATIONS_DIR), &mut hasher);
    format!("exsvc_template_{:016x}", hasher.finish())
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    // `name` is generated here (hex and underscores), never user input.
    diesel::select(diesel::dsl::sql::<Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
    )))
    .get_result(conn)
    .await
    .unwrap_or_else(|e| panic!("pg_database: {e}"))
}

/// Migrations block in place, so they run on a runtime of their own.
fn migrate(url: String) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(exsvc_store_postgres::run_migrations(&url))
            .unwrap_or_else(|e| panic!("migrating the template database: {e}"));
    })
    .join()
    .expect("migration thread");
}

async fn ensure_template() -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = admin_connection().await;
            execute(
                &mut conn,
                &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"),
            )
            .await;
            if !database_exists(&mut conn, &name).await {
                // Build under another name and rename, so a crash mid-way never
                // leaves a half-migrated template behind.
                let building = format!("{name}_building");
                execute(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
                )
                .await;
                execute(&mut conn, &format!("CREATE DATABASE {building}")).await;
                migrate(database_url(&building));
                execute(
                    &mut conn,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            execute(
                &mut conn,
                &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"),
            )
            .await;
            name
        })
        .await
        .clone()
}

/// A migrated database of its own, dropped when the value is dropped.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let template = ensure_template().await;
        let name = format!("exsvc_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin_connection().await;
        execute(
            &mut conn,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await;
        Self {
            url: database_url(&name),
            name,
        }
    }

    /// An empty, unmigrated database (for testing migrations themselves).
    pub async fn empty() -> Self {
        let name = format!("exsvc_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin_connection().await;
        execute(&mut conn, &format!("CREATE DATABASE {name}")).await;
        Self {
            url: database_url(&name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}
