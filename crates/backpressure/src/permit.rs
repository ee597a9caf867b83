//! Reserve-then-send: [`Permit`], a slot taken before the item exists.
//!
//! A permit is a slot (and, on a weighted queue, some weight) already taken
//! from the admission semaphore and not yet used. Sending through it pushes
//! into the channel, which always has room for a slot holder; dropping it
//! unsent gives the slot back. Either way the slot is accounted for exactly
//! once, so permits can neither leak capacity nor exceed it.

use std::fmt;

use crate::error::{SendError, TrySendError};
use crate::sender::Sender;
use crate::shared::{NoRoom, Shared};
use crate::sync::Arc;

/// A reserved slot in a queue, from [`Sender::reserve`](crate::Sender::reserve)
/// or [`Sender::try_reserve`](crate::Sender::try_reserve).
///
/// Owned (`'static`): it can move into a spawned task that builds the job.
/// Dropping it without sending gives the slot back.
///
/// A permit counts as a sender: if the last [`Sender`] is dropped while a
/// permit is outstanding, the queue stays open until the permit is used or
/// dropped, so the item it was reserved for still gets in (receivers see it,
/// then the close). An explicit [`close`](Sender::close) still closes at
/// once, and the permit's send then returns the item with
/// [`SendError::Closed`].
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(4);
/// match tx.try_reserve() {
///     Ok(permit) => {
///         let job = format!("job built only after admission");
///         permit.send(job).unwrap();
///     }
///     Err(_) => { /* answer 503 */ }
/// }
/// assert_eq!(rx.len(), 1);
///
/// // The permit keeps the queue open for its item after the last sender goes.
/// let permit = tx.try_reserve().unwrap();
/// drop(tx);
/// permit.send(String::from("last job")).unwrap();
/// assert_eq!(rx.recv().await.unwrap(), "job built only after admission");
/// assert_eq!(rx.recv().await.unwrap(), "last job");
/// assert_eq!(rx.recv().await, None);
/// # }
/// ```
#[must_use = "a permit holds a queue slot until it is used or dropped"]
pub struct Permit<T> {
    shared: Arc<Shared<T>>,
    /// Weight units reserved along with the slot.
    weight: u32,
    /// `false` once the slot has been used or given back.
    armed: bool,
}

impl<T> Permit<T> {
    /// A permit counts as a sender for closing purposes: the queue stays
    /// open for its one item even if every [`Sender`] is dropped first.
    pub(crate) fn new(shared: Arc<Shared<T>>, weight: u32) -> Self {
        shared.add_sender();
        Self {
            shared,
            weight,
            armed: true,
        }
    }

    /// Enqueues `item` in the reserved slot. Never waits.
    ///
    /// On a weighted queue, if the item weighs more than the permit
    /// reserved, the difference is taken from the budget if free now.
    ///
    /// # Errors
    ///
    /// With the item: [`SendError::Closed`] if the queue closed since the
    /// reservation; on a weighted queue, [`SendError::Full`] if the extra
    /// weight is not free and [`SendError::TooHeavy`] if the item exceeds
    /// the whole budget. The slot is given back in every error case.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{SendError, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// rx.close();
    /// assert!(matches!(permit.send("late"), Err(SendError::Closed("late"))));
    /// # }
    /// ```
    pub fn send(mut self, item: T) -> Result<(), SendError<T>> {
        let shared = &*self.shared;
        let weight = shared.weigh(&item);
        if weight > self.weight {
            if shared.too_heavy(weight) {
                shared.counters.on_reject();
                return Err(SendError::TooHeavy(item));
            }
            if let Some(w) = &shared.weight {
                match w.units.try_acquire_many(weight - self.weight) {
                    Ok(extra) => extra.forget(),
                    Err(err) => {
                        let closed = matches!(err, tokio::sync::TryAcquireError::Closed);
                        return Err(if closed {
                            SendError::Closed(item)
                        } else {
                            shared.counters.on_reject();
                            SendError::Full(item)
                        });
                    }
                }
            }
        } else if weight < self.weight
            && let Some(w) = &shared.weight
        {
            w.units.add_permits((self.weight - weight) as usize);
        }
        // From here the slot and exactly `weight` units back the item; `push`
        // gives both back itself if it fails.
        self.armed = false;
        shared.push(item, weight).map_err(SendError::Closed)
    }

    /// The weight units this permit holds (0 unless it came from
    /// [`Sender::reserve_weight`](crate::Sender::reserve_weight)).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(1);
    /// assert_eq!(tx.try_reserve().unwrap().weight(), 0);
    /// ```
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

impl<T> Drop for Permit<T> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release(self.weight);
        }
        // After the push (in `send`) or the release: the last sender (or
        // permit) to go closes the queue behind its item.
        self.shared.drop_sender();
    }
}

impl<T> fmt::Debug for Permit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("weight", &self.weight)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

/// Reserve-then-send: the ways a [`Sender`] hands out a [`Permit`].
impl<T> Sender<T> {
    /// Waits for a free slot and returns it as a [`Permit`], before the item
    /// exists: a server can admit a request (or answer 503 with
    /// [`try_reserve`](Self::try_reserve)) before it builds the job.
    ///
    /// The permit holds one slot (and no weight; see
    /// [`reserve_weight`](Self::reserve_weight)). Dropping it unsent gives
    /// the slot back. It waits whatever the overflow policy: a permit is a
    /// promise of room, so it never evicts.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: dropping the future gives back anything it had taken, and
    /// it owns no item. It keeps its place in line only while it lives.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if the queue is or becomes closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// assert!(tx.try_send("no room: the permit holds the slot").is_err());
    /// permit.send("built after admission").unwrap();
    /// assert_eq!(rx.recv().await, Some("built after admission"));
    /// # }
    /// ```
    pub async fn reserve(&self) -> Result<Permit<T>, SendError<()>> {
        self.reserve_weight(0).await
    }

    /// Like [`reserve`](Self::reserve), for a weighted queue: also reserves
    /// `weight` units of the budget. [`Permit::send`] tops up or gives back
    /// the difference from the item's actual weight.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe, as [`reserve`](Self::reserve).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`]; [`SendError::TooHeavy`] if `weight` exceeds the
    /// whole budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::Queue;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, _rx) = Queue::builder::<Vec<u8>>(8)
    ///     .weight_budget(1024, |v| v.len() as u32)
    ///     .build()
    ///     .unwrap();
    /// let permit = tx.reserve_weight(512).await.unwrap();
    /// assert_eq!(tx.stats().weight, 512);
    /// permit.send(vec![0; 100]).unwrap();
    /// assert_eq!(tx.stats().weight, 100);
    /// # }
    /// ```
    pub async fn reserve_weight(&self, weight: u32) -> Result<Permit<T>, SendError<()>> {
        if self.shared.too_heavy(weight) {
            self.shared.counters.on_reject();
            return Err(SendError::TooHeavy(()));
        }
        match self.shared.admit(weight).await {
            Ok(()) => Ok(Permit::new(Arc::clone(&self.shared), weight)),
            Err(_) => Err(SendError::Closed(())),
        }
    }

    /// Takes a free slot now, or fails: the admission check of a server
    /// that answers 503 rather than queueing a request it cannot serve.
    /// Like [`try_send`](Self::try_send), it leaves a slot freed for a
    /// waiting producer to that producer.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] (counted as `rejected`) or
    /// [`TrySendError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{TrySendError, bounded};
    ///
    /// let (tx, _rx) = bounded::<String>(1);
    /// let permit = tx.try_reserve().unwrap();
    /// assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    /// drop(permit); // unsent: the slot comes back
    /// assert!(tx.try_reserve().is_ok());
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<T>, TrySendError<()>> {
        match self.shared.try_admit(0) {
            Ok(()) => Ok(Permit::new(Arc::clone(&self.shared), 0)),
            Err(NoRoom::Closed) => Err(TrySendError::Closed(())),
            Err(NoRoom::Full) => {
                self.shared.counters.on_reject();
                Err(TrySendError::Full(()))
            }
        }
    }
}
