//! The dashboards' own thread: every `/ws` connection (`web::ws`) runs on a single-threaded
//! tokio runtime of its own, at a lower OS priority than the rest of kefu.
//!
//! The live renderer (`web::live_render`) runs there too: rendering an event's HTML is work
//! for the dashboards alone.
//!
//! Why: on a small machine the fan-out is most of kefu's work (every event is a frame written
//! to every open dashboard: 200 dashboards and 340 events/s are 68,000 writes a second), and
//! on the shared runtime a push's request waited in line behind those writes for a worker,
//! while WeChat waits for `success`. On a thread of their own at nice `NICE`, the kernel
//! runs the webhook, the writer and the bot first and the dashboards with what is left; the
//! dashboards only ever trail by a few milliseconds, and a dashboard that falls `KEPT` events
//! behind is told to reload, as before. Raising the priority of the webhook instead would need
//! privileges kefu does not have; lowering one's own does not.
//!
//! Its sockets stay registered with the main runtime's I/O driver (tokio allows a resource to
//! be polled from another runtime); timers are this runtime's own.

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The dashboards' thread's nice value (0 is everyone else's; 19 the lowest priority).
const NICE: i32 = 10;

/// A handle to the dashboards' thread, cheap to clone; the thread ends (and the connections
/// still open with it) when the last clone is dropped.
#[derive(Clone)]
pub struct Fanout {
    handle: Handle,
    _stop: Arc<oneshot::Sender<()>>,
}

impl Fanout {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Fanout> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("kefu-dashboards".into())
            .spawn(move || {
                // On Linux the nice value is the calling thread's alone. Not fatal: the
                // dashboards then share the CPU evenly with everything else.
                if let Err(e) = rustix::process::setpriority_process(None, NICE) {
                    tracing::info!(error = %e, "cannot lower the dashboards' thread's priority");
                }
                // runs the connections until the handle is dropped; dropping the runtime
                // here (not in an async context) ends those still open
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Fanout {
            handle,
            _stop: Arc::new(stop),
        })
    }

    /// Runs `task` on the dashboards' thread.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task)
    }
}
