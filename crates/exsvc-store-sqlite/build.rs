//! `embed_migrations!` reads the migration files at compile time, but cargo
//! cannot see a directory the macro lists: without this, a new migration is
//! left out of an incremental build until some source file changes.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
