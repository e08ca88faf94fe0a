//! A raw-socket server on a Unix socket in a temp dir, stopped by the test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugwire_server::raw_socket::{self, RawSocketOptions};
use plugwire_server::Backend;
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct RawServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RawServer {
    /// Binds `path` (mode 0600) and serves `backend` until stopped.
    pub fn start(path: &Path, backend: Arc<dyn Backend>, options: RawSocketOptions) -> Self {
        let listener = raw_socket::bind_unix_0600(path, "test").unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            raw_socket::run(listener, backend, options, async {
                let _ = rx.await;
            })
            .await;
        });
        RawServer { stop, task }
    }

    /// Stops the server and waits for it to end.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }

    /// Starts the drain and waits until the socket refuses new connections; the server's task
    /// is returned to await its end.
    pub async fn drain(self, path: &Path) -> JoinHandle<()> {
        let _ = self.stop.send(());
        for _ in 0..200 {
            if UnixStream::connect(path).await.is_err() {
                return self.task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the socket still accepts connections after shutdown");
    }
}
