//! Which profile's cases a job runs next, when cases are sharded over several pairs of node
//! hosts (`--jobs N`).
//!
//! A pair of node hosts serves one configuration profile (the nodes read their config at
//! start-up), and starting the TypeScript node host costs seconds of CPU. So a job keeps its
//! pair while its profile has cases left, and only then switches to the profile that has the
//! most cases left per job already on it; it does not start a pair for a tail that the jobs
//! already on that profile will finish soon. The jobs thus start on different profiles and
//! switch at different times, and start-ups overlap with other jobs' cases instead of
//! stopping every job at each profile boundary.
//!
//! Which job runs a case never changes the case's result: each case sets its own approvals
//! document in its own directory, and the report does not depend on the order cases finish
//! in (`report::Tally` picks each class's example by size, then case index).

use crate::gen::Profile;

/// A job switches to a profile other jobs already serve only when that gives it at least this
/// many cases, and more when start-ups are slow (see [`min_share`]).
pub const MIN_CASES_PER_SWITCH: usize = 25;

/// The fewest cases that make a switch worth it, given the mean start-up time of a pair and
/// the mean time one job takes per case: a start-up must pay for itself twice over (it also
/// takes CPU from the jobs already running), and never less than [`MIN_CASES_PER_SWITCH`].
pub fn min_share(start_up: std::time::Duration, per_case: std::time::Duration) -> usize {
    if per_case.is_zero() {
        return MIN_CASES_PER_SWITCH;
    }
    let share = (2.0 * start_up.as_secs_f64() / per_case.as_secs_f64()).ceil() as usize;
    share.max(MIN_CASES_PER_SWITCH)
}

/// The cases of one profile not yet taken, and the jobs serving it.
#[derive(Clone, Debug)]
struct Lane {
    profile: Profile,
    /// Case positions (into the run's case list), in order; `next` is the first not taken.
    cases: Vec<usize>,
    next: usize,
    jobs: usize,
}

impl Lane {
    fn remaining(&self) -> usize {
        self.cases.len() - self.next
    }
}

/// The shared queue of a run's cases, one lane per profile.
#[derive(Clone, Debug)]
pub struct Schedule {
    lanes: Vec<Lane>,
}

impl Schedule {
    /// A schedule for cases with these profiles (position `i` has `profiles[i]`).
    pub fn new(profiles: &[Profile]) -> Schedule {
        let lanes = Profile::ALL
            .iter()
            .map(|p| Lane {
                profile: *p,
                cases: (0..profiles.len()).filter(|i| profiles[*i] == *p).collect(),
                next: 0,
                jobs: 0,
            })
            .filter(|l| !l.cases.is_empty())
            .collect();
        Schedule { lanes }
    }

    /// The next case for a job whose pair serves `current` (`None`: no pair yet), and the
    /// profile it needs: a case of `current` while there is one, else one of the profile
    /// `Schedule::choose` picks with at least `min_share` cases for this job (the job then
    /// counts on that profile). `None` when the job has nothing worth doing.
    pub fn take(&mut self, current: Option<Profile>, min_share: usize) -> Option<(Profile, usize)> {
        let lane = match current.and_then(|p| self.lanes.iter().position(|l| l.profile == p && l.remaining() > 0)) {
            Some(i) => i,
            None => {
                let i = self.choose(min_share)?;
                if let Some(old) = current.and_then(|p| self.lanes.iter().position(|l| l.profile == p)) {
                    self.lanes[old].jobs -= 1;
                }
                self.lanes[i].jobs += 1;
                i
            }
        };
        let l = &mut self.lanes[lane];
        let case = l.cases[l.next];
        l.next += 1;
        Some((l.profile, case))
    }

    /// Marks a job as gone from `profile` (it stopped, or its pair failed).
    pub fn leave(&mut self, profile: Profile) {
        if let Some(l) = self.lanes.iter_mut().find(|l| l.profile == profile) {
            l.jobs = l.jobs.saturating_sub(1);
        }
    }

    /// The lane with the most cases left per job (counting the one that would join); a lane
    /// nobody serves is always eligible, one already served only with at least `min_share`
    /// cases for the newcomer. Ties go to the lane with fewer jobs, then to profile order.
    fn choose(&self, min_share: usize) -> Option<usize> {
        let mut best: Option<(usize, usize, usize)> = None; // (lane, share, jobs)
        for (i, l) in self.lanes.iter().enumerate() {
            let share = l.remaining() / (l.jobs + 1);
            let eligible = l.remaining() > 0 && (l.jobs == 0 || share >= min_share);
            if !eligible {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, s, j)) => share > s || (share == s && l.jobs < j),
            };
            if better {
                best = Some((i, share, l.jobs));
            }
        }
        best.map(|(i, _, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Profile::{Plain, StrictGlobal, StrictMain};

    fn profiles(plain: usize, strict: usize, main: usize) -> Vec<Profile> {
        let mut v = vec![Plain; plain];
        v.extend(vec![StrictGlobal; strict]);
        v.extend(vec![StrictMain; main]);
        v
    }

    #[test]
    fn jobs_start_on_different_profiles_and_keep_their_pair() {
        let mut s = Schedule::new(&profiles(120, 40, 40));
        assert_eq!(s.take(None, MIN_CASES_PER_SWITCH).map(|t| t.0), Some(Plain));
        assert_eq!(
            s.take(None, MIN_CASES_PER_SWITCH).map(|t| t.0),
            Some(Plain),
            "59 plain cases each beat 40 strict ones"
        );
        assert_eq!(
            s.take(None, MIN_CASES_PER_SWITCH).map(|t| t.0),
            Some(StrictGlobal),
            "40 strict cases beat 39 plain ones each"
        );
        // A job keeps its profile while it has cases.
        assert_eq!(s.take(Some(StrictGlobal), MIN_CASES_PER_SWITCH), Some((StrictGlobal, 121)));
    }

    #[test]
    fn a_job_switches_when_its_profile_runs_out_and_every_case_is_taken_once() {
        let list = profiles(100, 30, 10);
        let mut s = Schedule::new(&list);
        let mut current = [None; 3];
        let mut taken = Vec::new();
        let mut switches = 0;
        'run: loop {
            let mut any = false;
            for c in current.iter_mut() {
                if let Some((p, case)) = s.take(*c, MIN_CASES_PER_SWITCH) {
                    assert_eq!(list[case], p, "a case runs on a pair of its own profile");
                    if c.is_some() && *c != Some(p) {
                        switches += 1;
                    }
                    *c = Some(p);
                    taken.push(case);
                    any = true;
                }
            }
            if !any {
                break 'run;
            }
        }
        taken.sort_unstable();
        assert_eq!(taken, (0..list.len()).collect::<Vec<_>>());
        assert!(switches <= 3, "a few switches, not one per case: {switches}");
    }

    #[test]
    fn slow_start_ups_need_a_longer_share() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        assert_eq!(min_share(ms(5600), ms(300)), 38, "2 x 5.6 s of start-up over 0.3 s per case");
        assert_eq!(min_share(ms(20_000), ms(600)), 67);
        assert_eq!(min_share(ms(1000), ms(600)), MIN_CASES_PER_SWITCH);
        assert_eq!(min_share(ms(1000), Duration::ZERO), MIN_CASES_PER_SWITCH, "nothing measured yet");
        let mut s = Schedule::new(&profiles(100, 0, 0));
        assert_eq!(s.take(None, 60).map(|t| t.0), Some(Plain));
        assert_eq!(s.take(None, 60), None, "49 cases each do not pay for a start-up");
        assert_eq!(s.take(None, 40).map(|t| t.0), Some(Plain));
    }

    #[test]
    fn no_pair_is_started_for_a_short_tail_others_serve() {
        let mut s = Schedule::new(&profiles(30, 0, 0));
        assert_eq!(s.take(None, MIN_CASES_PER_SWITCH).map(|t| t.0), Some(Plain));
        assert_eq!(
            s.take(None, MIN_CASES_PER_SWITCH),
            None,
            "29 cases left for a second job on plain: under the switch bar"
        );
        let mut s = Schedule::new(&profiles(3, 1, 1));
        let got: Vec<Profile> = (0..3).filter_map(|_| s.take(None, MIN_CASES_PER_SWITCH)).map(|t| t.0).collect();
        assert_eq!(got, vec![Plain, StrictGlobal, StrictMain], "a profile nobody serves always gets a job");
        s.leave(StrictMain);
        assert_eq!(s.take(None, MIN_CASES_PER_SWITCH), None, "its one case is taken already");
    }
}
