//! A fresh PostgreSQL database per test, on the throwaway server `make test` starts
//! (`scripts/pg.sh`), named by `UNLINK_TEST_DATABASE_URL`.

/// The server's admin URL. These tests need a real PostgreSQL: run them with `make test`,
/// which starts one, or point `UNLINK_TEST_DATABASE_URL` at yours.
pub fn server_url() -> String {
    std::env::var("UNLINK_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "UNLINK_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server. `make \
             test` starts one (scripts/pg.sh); or set it to a superuser URL of your own."
        )
    })
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static MADE: AtomicU32 = AtomicU32::new(0);
    let server = server_url();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed),
        unlink_proxy::time::now_ms()
    );
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server answers");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = connection.await;
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}
