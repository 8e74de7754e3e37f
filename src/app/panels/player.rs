//! The player: the live preview while sampling, the result afterwards. Play/pause, frame
//! scrubber, playback FPS, loop / ping-pong / once, fit or 1:1.

use super::super::action::Action;
use super::super::state::{LoopMode, PlayerPrefs};
use super::super::textures::Frames;

/// Playback position.
#[derive(Debug, Clone)]
pub struct PlayerState {
    pub playing: bool,
    pub frame: usize,
    /// +1 or −1 (ping-pong).
    direction: i32,
    last_advance: f64,
}

impl Default for PlayerState {
    fn default() -> Self {
        Self { playing: true, frame: 0, direction: 1, last_advance: 0.0 }
    }
}

impl PlayerState {
    /// Back to the first frame, playing forward.
    pub fn restart(&mut self) {
        self.frame = 0;
        self.direction = 1;
    }

    /// Advances according to the time and the loop mode.
    fn tick(&mut self, now: f64, fps: f32, n: usize, mode: LoopMode) {
        if n == 0 {
            self.frame = 0;
            return;
        }
        self.frame = self.frame.min(n - 1);
        if !self.playing || fps <= 0.0 || now - self.last_advance < 1.0 / fps as f64 {
            return;
        }
        self.last_advance = now;
        let next = self.frame as i64 + self.direction as i64;
        self.frame = match mode {
            LoopMode::Loop => (next.rem_euclid(n as i64)) as usize,
            LoopMode::Once => {
                if next >= n as i64 {
                    self.playing = false;
                    n - 1
                } else {
                    next as usize
                }
            }
            LoopMode::PingPong => {
                if n == 1 {
                    0
                } else if next >= n as i64 || next < 0 {
                    self.direction = -self.direction;
                    (self.frame as i64 + self.direction as i64) as usize
                } else {
                    next as usize
                }
            }
        };
    }
}

/// What the player shows.
#[derive(Debug, Clone, Copy)]
pub struct PlayerView<'a> {
    /// The running job's live preview, if any.
    pub preview: Option<&'a Frames>,
    /// The clip in the player (the last result or a history entry) and its seed if saved.
    pub result: Option<(&'a Frames, Option<u64>)>,
    /// The export in progress (its fraction done).
    pub exporting: Option<f32>,
    /// Frames per generated frame of the clip shown (1, or the RIFE factor: it plays at the
    /// FPS × this, so its duration stays).
    pub factor: usize,
    /// A frame interpolation running: (factor, frames made, frames in all).
    pub smoothing: Option<(usize, usize, usize)>,
    /// The history entry of the clip shown (for *Continue* and a storyboard's segments).
    pub entry: Option<&'a crate::history::HistoryEntry>,
}

/// The player's part of the storyboard state: the join's crossfade and the segment picked
/// for a re-run.
#[derive(Debug)]
pub struct ChainForm<'a> {
    pub crossfade: &'a mut usize,
    pub segment: &'a mut usize,
}

/// The central player; owns the playback position and the playback preferences.
pub fn player_ui(
    ui: &mut egui::Ui,
    view: PlayerView<'_>,
    player: &mut PlayerState,
    prefs: &mut PlayerPrefs,
    chain: ChainForm<'_>,
    act: &mut Vec<Action>,
) {
    let live = view.preview.is_some();
    let frames = view.preview.or(view.result.map(|(f, _)| f));
    let Some(frames) = frames else {
        ui.centered_and_justified(|ui| {
            ui.label(
                egui::RichText::new(
                    "Drop an image, write a prompt and press Generate.\nThe frames sharpen here as the steps complete.",
                )
                .size(16.0)
                .weak(),
            );
        });
        return;
    };
    let n = frames.len();
    let now = ui.input(|i| i.time);
    let factor = if live { 1 } else { view.factor.max(1) };
    let fps = prefs.fps * factor as f32;
    player.tick(now, fps, n, prefs.loop_mode);
    if player.playing && n > 1 {
        ui.ctx().request_repaint_after(std::time::Duration::from_secs_f32(1.0 / fps.max(1.0)));
    }
    ui.horizontal(|ui| {
        if live {
            ui.label(egui::RichText::new("Live preview (predicted frames)").strong());
        } else if let Some((_, Some(seed))) = view.result {
            let smooth = if factor > 1 { format!(" · interpolated ×{factor} ({} fps)", fps) } else { String::new() };
            ui.label(egui::RichText::new(format!("Result · seed {seed}{smooth}")).strong());
        }
    });
    let avail = ui.available_size() - egui::vec2(0.0, 48.0);
    let [w, h] = frames.size;
    let size = if prefs.fit {
        let s = (avail.x / w.max(1) as f32).min(avail.y / h.max(1) as f32).max(0.1);
        egui::vec2(w as f32 * s, h as f32 * s)
    } else {
        egui::vec2(w as f32, h as f32)
    };
    let idx = player.frame.min(n.saturating_sub(1));
    if let Some(t) = frames.textures.get(idx) {
        egui::ScrollArea::both().id_salt("player_scroll").max_height(avail.y).show(ui, |ui| {
            ui.vertical_centered(|ui| ui.add(egui::Image::new(t).fit_to_exact_size(size)));
        });
    }
    ui.horizontal_wrapped(|ui| {
        let label = if player.playing { "Pause" } else { "Play" };
        if ui.button(label).on_hover_text("Play / pause (Space)").clicked() {
            player.playing = !player.playing;
        }
        let mut f = idx;
        if ui.add(egui::Slider::new(&mut f, 0..=n.saturating_sub(1)).text("frame")).changed() {
            player.frame = f;
            player.playing = false;
        }
        ui.add(egui::Slider::new(&mut prefs.fps, 1.0..=30.0).text("fps").step_by(1.0)).on_hover_text("Playback speed");
        egui::ComboBox::new("loop_mode", "playback").selected_text(format!("{:?}", prefs.loop_mode)).show_ui(
            ui,
            |ui| {
                ui.selectable_value(&mut prefs.loop_mode, LoopMode::Loop, "Loop");
                ui.selectable_value(&mut prefs.loop_mode, LoopMode::PingPong, "Ping-pong");
                ui.selectable_value(&mut prefs.loop_mode, LoopMode::Once, "Once");
            },
        );
        ui.checkbox(&mut prefs.fit, "Fit").on_hover_text("Fit to the panel; off shows pixels 1:1");
        ui.separator();
        smooth_ui(ui, &view, live, factor, act);
        ui.separator();
        if let Some(e) = view.entry.filter(|_| !live) {
            chain_ui(ui, e, chain, act);
            ui.separator();
        }
        match view.exporting {
            Some(progress) => {
                ui.add(egui::ProgressBar::new(progress).desired_width(120.0).text("Exporting"));
                if ui.button("Stop export").clicked() {
                    act.push(Action::CancelExport);
                }
            }
            None => {
                let can = !live && view.result.is_some_and(|(_, seed)| seed.is_some());
                if ui
                    .add_enabled(can, egui::Button::new("Export..."))
                    .on_hover_text("MP4 (H.264), GIF or animated PNG at the playback FPS; ping-pong if selected")
                    .clicked()
                {
                    act.push(Action::ExportDialog);
                }
            }
        }
    });
}

/// *Continue* (with its crossfade) and, for a storyboard, *Re-run segment*.
fn chain_ui(ui: &mut egui::Ui, e: &crate::history::HistoryEntry, chain: ChainForm<'_>, act: &mut Vec<Action>) {
    use super::super::storyboard::StoryboardAction;
    use crate::pipeline::storyboard::JoinKind;
    if ui
        .button("Continue this clip")
        .on_hover_text("Generate the next clip from this clip's last frame and append it")
        .clicked()
    {
        act.push(Action::Storyboard(StoryboardAction::Continue(Box::new(e.clone()))));
    }
    ui.add(egui::DragValue::new(chain.crossfade).range(0..=8).prefix("crossfade ").suffix(" frames"))
        .on_hover_text("Frames blended across the join (0: a cut)");
    if let Some(j) = &e.record.joined {
        if let JoinKind::Storyboard { segments, .. } = &j.kind {
            let n = j.parts.len();
            *chain.segment = (*chain.segment).min(n.saturating_sub(1));
            let name = |i: usize| {
                segments.get(i).map_or(format!("{}", i + 1), |s| format!("{} ({} to {})", i + 1, s.from + 1, s.to + 1))
            };
            egui::ComboBox::new("rerun_segment", "")
                .selected_text(format!("segment {}", name(*chain.segment)))
                .show_ui(ui, |ui| {
                    for i in 0..n {
                        ui.selectable_value(chain.segment, i, format!("segment {}", name(i)));
                    }
                });
            if ui
                .button("Re-run segment")
                .on_hover_text("Generate this segment again with a new seed; the others are kept")
                .clicked()
            {
                act.push(Action::Storyboard(StoryboardAction::Rerun {
                    entry: Box::new(e.clone()),
                    index: *chain.segment,
                }));
            }
        }
    }
}

/// *Interpolate ×1 / ×2 / ×4*: RIFE in-betweens of the clip (made on the GPU by the worker).
fn smooth_ui(ui: &mut egui::Ui, view: &PlayerView<'_>, live: bool, shown: usize, act: &mut Vec<Action>) {
    if let Some((f, done, total)) = view.smoothing {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .desired_width(120.0)
                .text(format!("Interpolating ×{f}: {done}/{total}")),
        );
        if ui.button("Stop").on_hover_text("Stop the frame interpolation").clicked() {
            act.push(Action::CancelSmooth);
        }
        return;
    }
    let can = !live && view.result.is_some_and(|(_, seed)| seed.is_some());
    ui.add_enabled_ui(can, |ui| {
        ui.label("Interpolate").on_hover_text(
            "RIFE frame interpolation: 2 or 4 frames per frame, played (and exported) at that many times the FPS, so the duration stays",
        );
        for f in [1usize, 2, 4] {
            let label = if f == 1 { "off".to_owned() } else { format!("×{f}") };
            if ui.selectable_label(shown == f, label).clicked() && shown != f {
                act.push(Action::Smooth(f));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_does_not_repeat_end_frames() {
        let mut p = PlayerState::default();
        let mut seen = vec![p.frame];
        for k in 1..=8 {
            p.tick(k as f64, 1.0, 4, LoopMode::PingPong);
            seen.push(p.frame);
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }

    #[test]
    fn once_stops_at_the_end() {
        let mut p = PlayerState::default();
        for k in 1..=10 {
            p.tick(k as f64, 1.0, 3, LoopMode::Once);
        }
        assert_eq!((p.frame, p.playing), (2, false));
    }
}
