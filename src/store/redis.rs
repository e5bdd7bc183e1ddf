//! Where Redis (or Valkey) is: one server (`redis://host:port`, through a connection manager
//! that reconnects), or a Redis Cluster (`--redis-cluster`: seed URLs, comma-separated; the
//! cluster client follows slots and redirections and splits multi-key reads by slot). Both give
//! a [`Conn`] that runs commands and scripts alike.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A Redis deployment, not yet connected.
#[derive(Clone)]
pub enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

impl Target {
    /// One server's URL, or (with `cluster`) a cluster's seed URLs, comma-separated.
    pub fn parse(urls: &str, cluster: bool) -> Result<Target, String> {
        let list: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        let bad = |e: redis::RedisError| format!("the Redis URL {urls:?}: {e}");
        match (cluster, list.as_slice()) {
            (_, []) => Err("no Redis URL".into()),
            (false, [one]) => redis::Client::open(*one).map(Target::Single).map_err(bad),
            (false, _) => Err(format!("several Redis URLs ({urls:?}) are a cluster's: add --redis-cluster")),
            (true, seeds) => ClusterClient::new(seeds.to_vec()).map(Target::Cluster).map_err(bad),
        }
    }

    /// A connection: it reconnects by itself from then on.
    pub async fn connect(&self) -> Result<Conn, redis::RedisError> {
        match self {
            Target::Single(c) => ConnectionManager::new(c.clone()).await.map(Conn::Single),
            Target::Cluster(c) => c.get_async_connection().await.map(|c| Conn::Cluster(Box::new(c))),
        }
    }
}

/// A connection to either kind of deployment; cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(Box<ClusterConnection>),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_server_or_a_cluster() {
        assert!(matches!(Target::parse("redis://127.0.0.1:6379", false), Ok(Target::Single(_))));
        assert!(matches!(Target::parse("redis://127.0.0.1:7000", true), Ok(Target::Cluster(_))));
        assert!(matches!(
            Target::parse("redis://127.0.0.1:7000, redis://127.0.0.1:7001", true),
            Ok(Target::Cluster(_))
        ));
        let several = Target::parse("redis://127.0.0.1:7000,redis://127.0.0.1:7001", false).err().unwrap_or_default();
        assert!(several.contains("--redis-cluster"), "{several}");
        assert!(Target::parse("", false).is_err());
        assert!(Target::parse("http://nope", false).is_err());
    }
}
