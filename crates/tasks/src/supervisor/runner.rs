//! The supervision loop.
//!
//! Children run as tasks in one `JoinSet`; each slot remembers its child's
//! state (running with its token and abort handle, waiting for a restart at
//! an instant, or done). The loop waits, in this order of priority, for the
//! shutdown's drain to begin ([`Phase::Draining`], not the trigger: during
//! the pre-drain delay a server still serves and its workers keep working),
//! a child's exit, or the next restart instant.
//!
//! Stopping a child (for shutdown, for a sibling's restart, or when giving
//! up) means: cancel its token, join until it exits or its grace period
//! ends, abort it, join until the abort lands or the abort wait ends. A
//! child still running then never yields (tokio aborts only at an `.await`):
//! it is reported as `TaskError::Stuck` under its name and let go, so one
//! stuck task cannot hold the whole shutdown. Other children may exit
//! meanwhile; their exits are kept in `deferred` and handled by the loop
//! afterwards, in the order they happened.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use evenkeel_retry::{Backoff, saturating_deadline};
use evenkeel_shutdown::{Phase, Shutdown, WaitForPhase};
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Supervisor;
use super::child::{ChildSpec, Restart, Strategy};
use super::event::{Emitter, SupervisorEvent};
use super::intensity::Intensity;
use crate::error::{ChildError, SupervisorError, TaskError, from_join_error};

type Exit = Result<(), TaskError<ChildError>>;

enum State {
    Running {
        id: Id,
        token: CancellationToken,
        abort: AbortHandle,
        since: Instant,
    },
    Pending {
        at: Instant,
    },
    Done,
}

struct Slot {
    spec: ChildSpec,
    template: Backoff,
    schedule: Backoff,
    starts: u32,
    state: State,
}

/// A child's exit, as the loop handles it.
struct Exited {
    index: usize,
    exit: Exit,
    ran_for: Duration,
}

struct Runner {
    slots: Vec<Slot>,
    set: JoinSet<Result<(), ChildError>>,
    strategy: Strategy,
    intensity: Intensity,
    reset_after: Duration,
    emitter: Emitter,
    deferred: VecDeque<Exited>,
    abort_wait: Duration,
    /// Tasks that were aborted and did not stop within `abort_wait`: let go,
    /// still in the set until (if ever) they yield.
    stuck: Vec<Id>,
}

pub(super) async fn run(supervisor: Supervisor, shutdown: Shutdown) -> Result<(), SupervisorError> {
    // Held until the children are stopped, so `Shutdown::drain` waits for
    // the orderly stop. Refused once draining began: then start nothing.
    // During the pre-drain phase (triggered, intake still open) guards are
    // granted and the children run: a server still serving needs its workers.
    let Ok(_guard) = shutdown.guard() else {
        return Ok(());
    };
    let draining = shutdown.wait_for_phase(Phase::Draining);
    tokio::pin!(draining);
    let mut runner = Runner::new(supervisor);
    for index in 0..runner.slots.len() {
        runner.start(index);
    }
    let outcome = runner.supervise(draining).await;
    if let Err(error) = &outcome {
        runner.emitter.emit(&SupervisorEvent::GaveUp {
            error: error.clone(),
        });
    }
    runner.stop_all().await;
    outcome
}

impl Runner {
    fn new(supervisor: Supervisor) -> Self {
        let Supervisor {
            children,
            strategy,
            max_restarts,
            window,
            backoff,
            reset_after,
            emitter,
            abort_wait,
        } = supervisor;
        let slots = children
            .into_iter()
            .map(|spec| {
                let template = spec.backoff.clone().unwrap_or_else(|| backoff.clone());
                Slot {
                    schedule: template.clone(),
                    template,
                    spec,
                    starts: 0,
                    state: State::Done,
                }
            })
            .collect();
        Self {
            slots,
            set: JoinSet::new(),
            strategy,
            intensity: Intensity::new(max_restarts, window),
            reset_after: reset_after.unwrap_or(window),
            emitter,
            deferred: VecDeque::new(),
            abort_wait,
            stuck: Vec::new(),
        }
    }

    /// Supervises until shutdown (`Ok`), nothing left to run (`Ok`), or
    /// giving up (`Err`). Children may still be running when it returns.
    async fn supervise(
        &mut self,
        mut draining: Pin<&mut WaitForPhase>,
    ) -> Result<(), SupervisorError> {
        loop {
            if let Some(exited) = self.deferred.pop_front() {
                self.on_exit(exited).await?;
                continue;
            }
            let next_start = self
                .slots
                .iter()
                .filter_map(|slot| match slot.state {
                    State::Pending { at } => Some(at),
                    _ => None,
                })
                .min();
            if self.set.len() == self.stuck.len() && next_start.is_none() {
                return Ok(());
            }
            tokio::select! {
                biased;
                _phase = &mut draining => return Ok(()),
                Some(joined) = self.set.join_next_with_id() => {
                    if let Some(exited) = self.settle(joined) {
                        self.on_exit(exited).await?;
                    }
                }
                () = sleep_until(next_start), if next_start.is_some() => self.start_due(),
            }
        }
    }

    /// Builds and spawns child `index`'s future.
    fn start(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let token = CancellationToken::new();
        let factory = &mut slot.spec.factory;
        let abort = match std::panic::catch_unwind(AssertUnwindSafe(|| factory(token.clone()))) {
            Ok(future) => self.set.spawn(future),
            // A panicking factory is reported like a panicking child: the
            // payload is re-raised inside the task (without the panic hook).
            Err(payload) => self
                .set
                .spawn(async move { std::panic::resume_unwind(payload) }),
        };
        slot.state = State::Running {
            id: abort.id(),
            token,
            abort,
            since: Instant::now(),
        };
        let restarts = slot.starts;
        slot.starts = slot.starts.saturating_add(1);
        self.emitter.emit(&SupervisorEvent::Started {
            child: slot.spec.name.clone(),
            restarts,
        });
    }

    /// Starts, in start order, every child whose restart instant has come.
    fn start_due(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            if matches!(self.slots[index].state, State::Pending { at } if at <= now) {
                self.start(index);
            }
        }
    }

    /// Finds which child a joined task was and marks it done.
    fn settle(
        &mut self,
        joined: Result<(Id, Result<(), ChildError>), JoinError>,
    ) -> Option<Exited> {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(error) => error.id(),
        };
        if let Some(at) = self.stuck.iter().position(|&stuck| stuck == id) {
            // A stuck task finally yielded to its abort; it was reported.
            self.stuck.swap_remove(at);
            return None;
        }
        let index = self.slots.iter().position(
            |slot| matches!(slot.state, State::Running { id: running, .. } if running == id),
        )?;
        let slot = &mut self.slots[index];
        let State::Running { since, .. } = std::mem::replace(&mut slot.state, State::Done) else {
            return None;
        };
        let name = slot.spec.name.clone();
        let exit = match joined {
            Ok((_, Ok(()))) => Ok(()),
            Ok((_, Err(error))) => Err(TaskError::Failed { name, error }),
            Err(error) => Err(from_join_error(name, error)),
        };
        Some(Exited {
            index,
            exit,
            ran_for: since.elapsed(),
        })
    }

    /// Applies the restart policy, the intensity, the backoff and the
    /// strategy to one exit.
    async fn on_exit(&mut self, exited: Exited) -> Result<(), SupervisorError> {
        let Exited {
            index,
            exit,
            ran_for,
        } = exited;
        let slot = &mut self.slots[index];
        let child = slot.spec.name.clone();
        self.emitter.emit(&SupervisorEvent::Exited {
            child: child.clone(),
            exit: exit.clone(),
        });
        let restart = match slot.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => exit.is_err(),
            Restart::Temporary => false,
        };
        if !restart {
            return Ok(());
        }
        let now = Instant::now();
        let last_exit = exit.err();
        if !self.intensity.try_record(now) {
            return Err(SupervisorError::IntensityExceeded {
                child,
                restarts: self.intensity.max(),
                window: self.intensity.window(),
                last_exit,
            });
        }
        if ran_for >= self.reset_after {
            slot.schedule = slot.template.clone();
        }
        let Some(delay) = slot.schedule.next() else {
            return Err(SupervisorError::BackoffExhausted {
                child,
                restarts: slot.starts.saturating_sub(1),
                last_exit,
            });
        };
        let count = self.slots.len();
        let siblings: Vec<usize> = match self.strategy {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => (0..count).filter(|&j| j != index).collect(),
            Strategy::RestForOne => (index + 1..count).collect(),
        };
        let live: Vec<usize> = siblings
            .into_iter()
            .filter(|&j| !matches!(self.slots[j].state, State::Done))
            .collect();
        for &j in live.iter().rev() {
            self.stop(j, &live).await;
        }
        let at = saturating_deadline(now, delay);
        for j in 0..count {
            if j != index && !live.contains(&j) {
                continue;
            }
            let slot = &mut self.slots[j];
            if j != index && slot.spec.restart == Restart::Temporary {
                slot.state = State::Done;
                continue;
            }
            slot.state = State::Pending { at };
            self.emitter.emit(&SupervisorEvent::RestartScheduled {
                child: slot.spec.name.clone(),
                delay,
                restart: slot.starts,
            });
        }
        Ok(())
    }

    /// Stops child `index` if it runs: cancel, wait up to its grace period,
    /// abort, wait up to the abort wait; a child still running then never
    /// yields and is reported [`TaskError::Stuck`] and let go. Exits of
    /// children in `stopping` seen meanwhile count as their stop; other
    /// exits are deferred.
    async fn stop(&mut self, index: usize, stopping: &[usize]) {
        let State::Running {
            id, token, abort, ..
        } = &self.slots[index].state
        else {
            return;
        };
        let (id, token, abort) = (*id, token.clone(), abort.clone());
        self.emitter.emit(&SupervisorEvent::Stopping {
            child: self.slots[index].spec.name.clone(),
        });
        token.cancel();
        let mut deadline = saturating_deadline(Instant::now(), self.slots[index].spec.grace);
        let mut aborted = false;
        loop {
            let Ok(joined) = tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await
            else {
                if aborted {
                    self.let_go(index, id);
                    return;
                }
                abort.abort();
                aborted = true;
                deadline = saturating_deadline(Instant::now(), self.abort_wait);
                continue;
            };
            // An empty set means the child is gone already.
            let Some(joined) = joined else { return };
            let Some(exited) = self.settle(joined) else {
                continue;
            };
            if exited.index == index || stopping.contains(&exited.index) {
                self.emitter.emit(&SupervisorEvent::Exited {
                    child: self.slots[exited.index].spec.name.clone(),
                    exit: exited.exit,
                });
                if exited.index == index {
                    return;
                }
            } else {
                self.deferred.push_back(exited);
            }
        }
    }

    /// Child `index` (task `id`) was aborted and did not stop: report it as
    /// stuck, by name, and stop waiting for it.
    fn let_go(&mut self, index: usize, id: Id) {
        let slot = &mut self.slots[index];
        slot.state = State::Done;
        self.stuck.push(id);
        let name = slot.spec.name.clone();
        self.emitter.emit(&SupervisorEvent::Exited {
            child: name.clone(),
            exit: Err(TaskError::Stuck {
                name,
                waited: self.abort_wait,
            }),
        });
    }

    /// Stops every running child in reverse start order and drops pending
    /// restarts; exits seen meanwhile are reported, not acted on.
    async fn stop_all(&mut self) {
        for slot in &mut self.slots {
            if matches!(slot.state, State::Pending { .. }) {
                slot.state = State::Done;
            }
        }
        let all: Vec<usize> = (0..self.slots.len()).collect();
        for index in all.iter().rev() {
            self.stop(*index, &all).await;
        }
        while let Some(exited) = self.deferred.pop_front() {
            self.emitter.emit(&SupervisorEvent::Exited {
                child: self.slots[exited.index].spec.name.clone(),
                exit: exited.exit,
            });
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for (the
/// branch is disabled then anyway).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
