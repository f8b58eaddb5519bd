//! Everyday names for kinds of app ("the browser", "my editor", "the terminal") and the well-known
//! process names each stands for; a kind links only to the apps the DataRoot holds.

/// Everyday names for kinds of app, and the process names (lower case, without `.exe`) of the
/// well-known apps of each kind: "the browser" is whichever of them the data holds.
pub const APP_KINDS: &[(&str, &[&str])] = &[
    ("edge", &["msedge"]),
    ("word", &["winword"]),
    ("powerpoint", &["powerpnt"]),
    ("vscode", &["code"]),
    ("browser", BROWSERS),
    ("browsers", BROWSERS),
    ("web", BROWSERS),
    ("editor", EDITORS),
    ("ide", EDITORS),
    ("terminal", TERMINALS),
    ("shell", TERMINALS),
    ("console", TERMINALS),
    ("mail", MAIL),
    ("email", MAIL),
    ("e-mail", MAIL),
    ("chat", CHAT),
    ("messenger", CHAT),
    ("spreadsheet", SPREADSHEETS),
    ("pdf", PDF),
    ("rdp", REMOTE),
    ("remote", REMOTE),
];

const BROWSERS: &[&str] = &[
    "firefox",
    "chrome",
    "msedge",
    "brave",
    "opera",
    "vivaldi",
    "iexplore",
    "safari",
    "arc",
    "chromium",
    "librewolf",
    "waterfox",
];
const EDITORS: &[&str] = &[
    "code",
    "code - insiders",
    "devenv",
    "notepad++",
    "sublime_text",
    "idea64",
    "pycharm64",
    "rider64",
    "webstorm64",
    "clion64",
    "goland64",
    "notepad",
    "vim",
    "nvim",
    "gvim",
    "emacs",
    "zed",
    "cursor",
];
const TERMINALS: &[&str] = &[
    "windowsterminal",
    "wt",
    "cmd",
    "powershell",
    "pwsh",
    "conhost",
    "mintty",
    "alacritty",
    "wezterm-gui",
    "putty",
    "kitty",
];
const MAIL: &[&str] = &[
    "outlook",
    "olk",
    "hxoutlook",
    "thunderbird",
    "mailspring",
    "mailclient",
];
const CHAT: &[&str] = &[
    "slack",
    "teams",
    "ms-teams",
    "discord",
    "zoom",
    "telegram",
    "whatsapp",
    "signal",
    "skype",
    "element",
    "mattermost",
];
const SPREADSHEETS: &[&str] = &["excel", "scalc", "soffice"];
const PDF: &[&str] = &[
    "acrord32",
    "acrobat",
    "sumatrapdf",
    "foxitpdfreader",
    "foxitreader",
];
const REMOTE: &[&str] = &["mstsc", "msrdc", "anydesk", "teamviewer", "vncviewer"];

/// The well-known process names an everyday word names (`browser`: `firefox`, `chrome`…).
pub fn app_kind(word: &str) -> Option<&'static [&'static str]> {
    APP_KINDS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, apps)| *apps)
}
