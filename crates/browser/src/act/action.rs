//! The closed union of `/act` actions (upstream's `BrowserActRequest`), as
//! [`super::request::normalize`] produces them and the executor consumes them.

use serde_json::Value;

/// How an action names an element: a snapshot ref wins over a CSS selector, as upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    /// `e12` (or `@e12`, `ref=e12`) from the tab's last snapshot.
    Ref(String),
    /// A CSS selector (only where upstream allows one).
    Selector(String),
}

impl Elem {
    pub(super) fn from(r: Option<String>, s: Option<String>) -> Option<Self> {
        r.map(Elem::Ref).or(s.map(Elem::Selector))
    }
    /// The text upstream puts between quotes in its error messages.
    pub fn label(&self) -> &str {
        match self {
            Elem::Ref(r) | Elem::Selector(r) => r,
        }
    }
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// The primary button (the default).
    Left,
    /// The context-menu button.
    Right,
    /// The wheel button.
    Middle,
}

impl Button {
    pub(super) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "left" => Some(Self::Left),
            "right" => Some(Self::Right),
            "middle" => Some(Self::Middle),
            _ => None,
        }
    }
    /// CDP's `MouseButton` name.
    pub fn cdp(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
            Self::Middle => "middle",
        }
    }
}

/// One `fill` field (`form-fields.ts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The element's snapshot ref.
    pub r#ref: String,
    /// `text` unless given; `checkbox` and `radio` set the checked state.
    pub kind: String,
    /// A string, number or boolean; None when absent or null.
    pub value: Option<Value>,
}

/// The `wait` conditions, run in upstream's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitFor {
    /// A fixed sleep first.
    pub time_ms: Option<u64>,
    /// Text that must become visible.
    pub text: Option<String>,
    /// Text that must disappear.
    pub text_gone: Option<String>,
    /// A selector whose first match must become visible.
    pub selector: Option<String>,
    /// A URL glob the page must reach.
    pub url: Option<String>,
    /// `load`, `domcontentloaded` or `networkidle`.
    pub load_state: Option<String>,
    /// A JavaScript predicate that must become truthy.
    pub r#fn: Option<String>,
    /// The per-condition timeout.
    pub timeout_ms: Option<u64>,
}

/// One normalised action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Click (or double-click) an element.
    Click {
        /// The element.
        el: Elem,
        /// Two clicks.
        double: bool,
        /// The button, left when None.
        button: Option<Button>,
        /// Held modifiers (`Alt`, `Control`, `ControlOrMeta`, `Meta`, `Shift`).
        modifiers: Vec<String>,
        /// Hover, wait this long, then click.
        delay_ms: Option<u64>,
        /// The actionability timeout.
        timeout_ms: Option<u64>,
    },
    /// Click at viewport coordinates.
    ClickCoords {
        /// CSS pixels from the left.
        x: f64,
        /// CSS pixels from the top.
        y: f64,
        /// Two clicks.
        double: bool,
        /// The button.
        button: Option<Button>,
        /// Time between press and release.
        delay_ms: Option<u64>,
    },
    /// Replace an editable element's text.
    Type {
        /// The element.
        el: Elem,
        /// The text.
        text: String,
        /// Press Enter after.
        submit: bool,
        /// Click, then type key by key.
        slowly: bool,
        /// The actionability timeout.
        timeout_ms: Option<u64>,
    },
    /// Insert text at the focus.
    InsertText {
        /// The text.
        text: String,
    },
    /// Press a key chord.
    Press {
        /// `Control+Shift+T`, aliases already expanded.
        key: String,
        /// Time between down and up.
        delay_ms: Option<u64>,
    },
    /// Move the mouse over an element.
    Hover {
        /// The element.
        el: Elem,
        /// The actionability timeout.
        timeout_ms: Option<u64>,
    },
    /// Scroll an element into view.
    ScrollIntoView {
        /// The element.
        el: Elem,
        /// The wait timeout.
        timeout_ms: Option<u64>,
    },
    /// Drag one element onto another.
    Drag {
        /// Where the drag starts.
        start: Elem,
        /// Where it ends.
        end: Elem,
        /// The actionability timeout.
        timeout_ms: Option<u64>,
    },
    /// Choose `<select>` options by value or label.
    Select {
        /// The element.
        el: Elem,
        /// Values or labels.
        values: Vec<String>,
        /// The actionability timeout.
        timeout_ms: Option<u64>,
    },
    /// Fill several form fields.
    Fill {
        /// The fields, in order.
        fields: Vec<Field>,
        /// The per-field timeout.
        timeout_ms: Option<u64>,
    },
    /// Set the viewport size.
    Resize {
        /// CSS pixels.
        width: u32,
        /// CSS pixels.
        height: u32,
    },
    /// Wait for conditions.
    Wait(WaitFor),
    /// Run a function in the page (or on an element).
    Evaluate {
        /// The function (or expression, or statements) source.
        r#fn: String,
        /// The element passed as `el`.
        r#ref: Option<String>,
        /// The evaluation timeout.
        timeout_ms: Option<u64>,
    },
    /// Close the tab.
    Close,
    /// Several actions in order.
    Batch {
        /// The actions.
        actions: Vec<Act>,
        /// Stop at the first failure (upstream's default) unless `false`.
        stop_on_error: Option<bool>,
    },
}

/// An action plus the tab it names (which must be the route's tab).
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    /// A `targetId` inside the action body.
    pub target_id: Option<String>,
    /// What to do.
    pub action: Action,
}

impl Act {
    /// The kind name, as upstream spells it.
    pub fn kind(&self) -> &'static str {
        match &self.action {
            Action::Click { .. } => "click",
            Action::ClickCoords { .. } => "clickCoords",
            Action::Type { .. } => "type",
            Action::InsertText { .. } => "insertText",
            Action::Press { .. } => "press",
            Action::Hover { .. } => "hover",
            Action::ScrollIntoView { .. } => "scrollIntoView",
            Action::Drag { .. } => "drag",
            Action::Select { .. } => "select",
            Action::Fill { .. } => "fill",
            Action::Resize { .. } => "resize",
            Action::Wait(_) => "wait",
            Action::Evaluate { .. } => "evaluate",
            Action::Close => "close",
            Action::Batch { .. } => "batch",
        }
    }

    /// Actions counted with nested batches, as upstream's 100-action cap counts them.
    pub(super) fn count(actions: &[Act]) -> usize {
        actions
            .iter()
            .map(|a| 1 + if let Action::Batch { actions, .. } = &a.action { Self::count(actions) } else { 0 })
            .sum()
    }
}
