//! What workers answer: results filed against the request in hand, finished requests.

use std::sync::atomic::Ordering;
use std::time::Instant;

use shared::{Mode, Response};

use super::super::conn::Partial;
use super::super::work::{Done, NumberFailure, Output, Segment, Tally};
use super::{Dispatcher, MAX_PIECE_ITEMS, self_mode};

impl Dispatcher {
    /// Applies one response of worker `slot`; `Err` describes a protocol violation.
    pub(super) fn on_response(&mut self, slot: usize, response: Response) -> Result<(), String> {
        let now = Instant::now();
        let c = self.slots[slot].conn.as_mut().expect("caller checked");
        let Some(head) = c.in_flight.front_mut() else {
            return Err(match response {
                Response::Error(e) => format!("the worker reported: {}", e.message),
                r => format!("an answer ({}) with no request outstanding", kind(&r)),
            });
        };
        if let Response::Working { id, .. } = response
            && id < head.id
        {
            // A clock tick about a request that has just been finished: harmless.
            return Ok(());
        }
        if response.id() != Some(head.id) {
            return Err(match response {
                Response::Error(e) => format!("the worker reported: {}", e.message),
                r => format!(
                    "an answer ({}) for request {} while request {} is in hand",
                    kind(&r),
                    r.id().unwrap_or_default(),
                    head.id
                ),
            });
        }
        let len = head.piece.len();
        let in_hand_before = head.in_hand;
        match (response, &mut head.partial) {
            (Response::Working { index, .. }, _) => {
                // The clock thread that sends these reads the worker's position without
                // stopping it, so one may lag behind the results: only the future counts.
                if index > len {
                    return Err(format!(
                        "working on input {index} after {} of {len} were finished",
                        head.done
                    ));
                }
                head.in_hand = head.in_hand.max(index);
            }
            (
                Response::Text {
                    done,
                    bad,
                    text,
                    errors,
                    ..
                },
                Partial::Text { segs, committed },
            ) => {
                if done < head.done || done > len || bad < head.bad || bad > done.max(head.done + 1)
                {
                    return Err(format!(
                        "text part says {done} input(s) done ({bad} bad) after {} of {len}",
                        head.done
                    ));
                }
                let mut pos = 0usize;
                for e in errors {
                    let at = e.at as usize;
                    if at < pos || at > text.len() {
                        return Err(format!("message offset {at} out of order or range"));
                    }
                    push_out(segs, &text[pos..at]);
                    segs.push(Segment::Message(e.message));
                    pos = at;
                }
                if pos == 0 && segs.is_empty() {
                    segs.push(Segment::Out(text));
                } else {
                    push_out(segs, &text[pos..]);
                }
                if done > head.done {
                    let last = match segs.last() {
                        Some(Segment::Out(v)) => v.len(),
                        _ => 0,
                    };
                    *committed = (segs.len(), last);
                }
                head.done = done;
                head.bad = bad;
            }
            (Response::Factors { first, factors, .. }, Partial::Numbers { results, .. }) => {
                let n = factors.len() as u32;
                if first != head.done || head.done + n > len || self_mode(&self.run) != Mode::Primes
                {
                    return Err(format!(
                        "factors for {n} number(s) from index {first} after {} of {len}",
                        head.done
                    ));
                }
                results.extend(factors.into_iter().map(Ok));
                head.done += n;
            }
            (
                Response::Divisors {
                    index,
                    divisors,
                    last,
                    ..
                },
                Partial::Numbers {
                    results,
                    divisors: current,
                },
            ) => {
                if index != head.done || index >= len || self_mode(&self.run) != Mode::Divisors {
                    return Err(format!(
                        "divisors of index {index} after {} of {len}",
                        head.done
                    ));
                }
                current.extend(divisors);
                if last {
                    results.push(Ok(std::mem::take(current)));
                    head.done += 1;
                }
            }
            (
                Response::NumberFailed { index, error, .. },
                Partial::Numbers {
                    results,
                    divisors: current,
                },
            ) => {
                if index != head.done || index >= len {
                    return Err(format!(
                        "a failure for index {index} after {} of {len}",
                        head.done
                    ));
                }
                current.clear();
                results.push(Err(NumberFailure::Refused(error)));
                head.done += 1;
                head.bad += 1;
            }
            (Response::BatchDone { .. }, _) => {
                if head.done != len {
                    return Err(format!(
                        "request {} done after {} of {len} results",
                        head.id, head.done
                    ));
                }
                self.complete_head(slot, now);
                return Ok(());
            }
            (r, _) => return Err(format!("an unexpected answer ({})", kind(&r))),
        }
        head.in_hand = head.in_hand.max(head.done);
        if head.in_hand > in_hand_before {
            c.head_since = now;
        }
        Ok(())
    }

    pub(super) fn complete_head(&mut self, slot: usize, now: Instant) {
        let c = self.slots[slot].conn.as_mut().expect("caller checked");
        let f = c.in_flight.pop_front().expect("caller checked");
        c.load -= u64::from(f.piece.len());
        c.head_since = now;
        if let Some(next) = c.in_flight.front_mut() {
            next.began = Some(now);
        }
        let len = f.piece.len();
        if let (Some(began), Some(run)) = (f.began, self.run.as_mut()) {
            run.deaths_in_a_row = 0;
            let per = now.duration_since(began).as_secs_f64() / f64::from(len.max(1));
            let smooth = run.per_item.map_or(per, |p| 0.6 * p + 0.4 * per);
            run.per_item = Some(smooth);
            let want = self.cfg.piece_time.as_secs_f64() / smooth.max(1e-9);
            let target = want.clamp(1.0, f64::from(MAX_PIECE_ITEMS)) as u32;
            run.spec.target.store(target, Ordering::Relaxed);
        }
        self.finish(Done {
            key: f.piece.key(),
            len,
            chunk_len: f.piece.chunk_len,
            output: f.partial.into_output(),
            tally: Tally {
                bad: u64::from(f.bad),
                ..Tally::default()
            },
        });
    }

    pub(super) fn finish(&mut self, done: Done) {
        let Some(run) = &mut self.run else { return };
        run.spec
            .held_bytes
            .fetch_add(done.bytes(), Ordering::Relaxed);
        run.reorder.insert(done.key, done);
    }
}

/// Appends bytes to the last output segment, or starts one.
fn push_out(segs: &mut Vec<Segment>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    match segs.last_mut() {
        Some(Segment::Out(v)) => v.extend_from_slice(bytes),
        _ => segs.push(Segment::Out(bytes.to_vec())),
    }
}

impl Partial {
    pub(crate) fn into_output(self) -> Output {
        match self {
            Self::Text { segs, .. } => Output::Text(segs),
            Self::Numbers { results, .. } => Output::Numbers(results),
        }
    }
}

/// A response's name, for messages.
fn kind(r: &Response) -> &'static str {
    match r {
        Response::Factors { .. } => "Factors",
        Response::Divisors { .. } => "Divisors",
        Response::NumberFailed { .. } => "NumberFailed",
        Response::BatchDone { .. } => "BatchDone",
        Response::Pong { .. } => "Pong",
        Response::Error(_) => "Error",
        Response::Text { .. } => "Text",
        Response::Working { .. } => "Working",
    }
}
