//! Trusted input through CDP: mouse clicks and moves (`Input.dispatchMouseEvent`), key
//! chords and slow typing (`Input.dispatchKeyEvent`), and text insertion (`Input.insertText`).

use std::time::Duration;

use serde_json::json;

use super::keys::{lookup, modifier_bit, split_chord, KeyDef};
use super::request::Button;
use super::Page;
use crate::error::RouteError;

/// Playwright's text for a key outside the layout.
fn unknown_key(name: &str) -> RouteError {
    RouteError::internal(format!("keyboard.press: Unknown key: \"{name}\""))
}

impl Page<'_> {
    /// Moves the mouse to a viewport point.
    pub(super) async fn mouse_move(&self, x: f64, y: f64, modifiers: u32) -> Result<(), RouteError> {
        self.send(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y, "modifiers": modifiers, "button": "none"}),
        )
        .await?;
        Ok(())
    }

    /// Presses and releases `button` at a point, `count` times (2 for a double click), holding
    /// `delay` between each press and release.
    pub(super) async fn mouse_click(
        &self,
        (x, y): (f64, f64),
        button: Button,
        count: u32,
        modifiers: u32,
        delay: Duration,
    ) -> Result<(), RouteError> {
        self.mouse_move(x, y, modifiers).await?;
        let buttons = match button {
            Button::Left => 1,
            Button::Right => 2,
            Button::Middle => 4,
        };
        for n in 1..=count {
            let ev = |kind: &str, buttons: u32| {
                json!({"type": kind, "x": x, "y": y, "button": button.cdp(), "buttons": buttons,
                       "clickCount": n, "modifiers": modifiers})
            };
            self.send("Input.dispatchMouseEvent", ev("mousePressed", buttons)).await?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            self.send("Input.dispatchMouseEvent", ev("mouseReleased", 0)).await?;
        }
        Ok(())
    }

    /// Presses or releases one mouse button without moving (for drags).
    pub(super) async fn mouse_button(&self, (x, y): (f64, f64), down: bool) -> Result<(), RouteError> {
        let kind = if down { "mousePressed" } else { "mouseReleased" };
        self.send(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": if down { 1 } else { 0 }, "clickCount": 1}),
        )
        .await?;
        Ok(())
    }

    /// One key event; text is left out while Control, Alt or Meta is held, so shortcuts do
    /// not also type.
    async fn key_event(&self, down: bool, def: &KeyDef, modifiers: u32) -> Result<(), RouteError> {
        let (key, text) = match (&def.shifted, modifiers & 8 != 0) {
            (Some((k, t)), true) => (k.clone(), t.clone()),
            _ => (def.key.clone(), def.text.clone()),
        };
        let text = text.filter(|_| modifiers & 0b0111 == 0);
        let kind = match (down, text.is_some()) {
            (true, true) => "keyDown",
            (true, false) => "rawKeyDown",
            (false, _) => "keyUp",
        };
        let mut p = json!({"type": kind, "key": key, "code": def.code, "windowsVirtualKeyCode": def.key_code,
                           "nativeVirtualKeyCode": def.key_code, "modifiers": modifiers, "location": def.location,
                           "isKeypad": def.location == 3});
        if let (true, Some(t)) = (down, text) {
            p["text"] = json!(t);
            p["unmodifiedText"] = json!(t);
        }
        self.send("Input.dispatchKeyEvent", p).await?;
        Ok(())
    }

    /// Presses a chord (`Control+Shift+T`): modifiers down in order, the key down and up
    /// (`delay` apart), modifiers up in reverse.
    pub(super) async fn press_chord(&self, chord: &str, delay: Duration) -> Result<(), RouteError> {
        let parts = split_chord(chord);
        let mut defs = Vec::with_capacity(parts.len());
        for p in &parts {
            let name = if p == "ControlOrMeta" { "Control" } else { p.as_str() };
            defs.push(lookup(name).ok_or_else(|| unknown_key(p))?);
        }
        let Some((last, held)) = defs.split_last() else { return Ok(()) };
        let mut modifiers = 0;
        for d in held {
            modifiers |= modifier_bit(&d.key);
            self.key_event(true, d, modifiers).await?;
        }
        let own = modifier_bit(&last.key);
        self.key_event(true, last, modifiers | own).await?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.key_event(false, last, modifiers).await?;
        for d in held.iter().rev() {
            modifiers &= !modifier_bit(&d.key);
            self.key_event(false, d, modifiers).await?;
        }
        Ok(())
    }

    /// Types `text` key by key, `delay` apart; characters outside the layout are inserted.
    pub(super) async fn type_slowly(&self, text: &str, delay: Duration) -> Result<(), RouteError> {
        for (i, c) in text.chars().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match lookup(&c.to_string()) {
                Some(d) => {
                    self.key_event(true, &d, 0).await?;
                    self.key_event(false, &d, 0).await?;
                }
                None => self.insert_text(&c.to_string()).await?,
            }
        }
        Ok(())
    }

    /// Inserts text at the focus, as an IME commit would.
    pub(super) async fn insert_text(&self, text: &str) -> Result<(), RouteError> {
        self.send("Input.insertText", json!({"text": text})).await?;
        Ok(())
    }
}
