//! The devices `POST /set/device` knows: a short list of common phones, tablets and desktops,
//! named as upstream names them (it looks names up in Playwright's device table), with the
//! viewport, screen, pixel ratio, user agent and input each emulates. A name not listed here
//! gets upstream's unknown-device error; upstream's table has about 200 more, mostly older
//! phones and landscape variants.

/// One device: what the page should see of its viewport, screen, user agent and input.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The device's name, e.g. `iPhone 15` or `Pixel 7 landscape` (case-sensitive).
    pub name: &'static str,
    /// The `User-Agent` and `navigator.userAgent` it reports.
    pub user_agent: &'static str,
    /// The CSS viewport.
    pub viewport: (u32, u32),
    /// The screen (`screen.width`/`height`).
    pub screen: (u32, u32),
    /// `devicePixelRatio`.
    pub device_scale_factor: f64,
    /// A mobile viewport (meta viewport honoured, overlay scrollbars).
    pub is_mobile: bool,
    /// Touch events are emulated.
    pub has_touch: bool,
}

const DEVICES: &[Device] = &[
    Device {
        name: "Desktop Chrome",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Safari/537.36",
        viewport: (1280, 720),
        screen: (1920, 1080),
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
    },
    Device {
        name: "Desktop Chrome HiDPI",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Safari/537.36",
        viewport: (1280, 720),
        screen: (1792, 1120),
        device_scale_factor: 2.0,
        is_mobile: false,
        has_touch: false,
    },
    Device {
        name: "Desktop Edge",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Safari/537.36 Edg/153.0.8010.12",
        viewport: (1280, 720),
        screen: (1920, 1080),
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
    },
    Device {
        name: "Desktop Firefox",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:155.0) Gecko/20100101 Firefox/155.0",
        viewport: (1280, 720),
        screen: (1920, 1080),
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
    },
    Device {
        name: "Desktop Safari",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Safari/605.1.15",
        viewport: (1280, 720),
        screen: (1792, 1120),
        device_scale_factor: 2.0,
        is_mobile: false,
        has_touch: false,
    },
    Device {
        name: "iPhone SE",
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_1 like Mac OS X) AppleWebKit/603.1.30 (KHTML, like Gecko) Version/26.6 Mobile/14E304 Safari/602.1",
        viewport: (320, 568),
        screen: (320, 568),
        device_scale_factor: 2.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPhone 15",
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (393, 659),
        screen: (393, 852),
        device_scale_factor: 3.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPhone 15 landscape",
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (734, 343),
        screen: (393, 852),
        device_scale_factor: 3.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPhone 15 Pro Max",
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (430, 739),
        screen: (430, 932),
        device_scale_factor: 3.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "Pixel 7",
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Mobile Safari/537.36",
        viewport: (412, 839),
        screen: (412, 915),
        device_scale_factor: 2.625,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "Pixel 7 landscape",
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Mobile Safari/537.36",
        viewport: (863, 360),
        screen: (915, 412),
        device_scale_factor: 2.625,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "Galaxy S9+",
        user_agent: "Mozilla/5.0 (Linux; Android 8.0.0; SM-G965U Build/R16NW) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.8010.12 Mobile Safari/537.36",
        viewport: (320, 658),
        screen: (320, 658),
        device_scale_factor: 4.5,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPad Mini",
        user_agent: "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (768, 1024),
        screen: (768, 1024),
        device_scale_factor: 2.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPad Pro 11",
        user_agent: "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (834, 1194),
        screen: (834, 1194),
        device_scale_factor: 2.0,
        is_mobile: true,
        has_touch: true,
    },
    Device {
        name: "iPad Pro 11 landscape",
        user_agent: "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.6 Mobile/15E148 Safari/604.1",
        viewport: (1194, 834),
        screen: (1194, 834),
        device_scale_factor: 2.0,
        is_mobile: true,
        has_touch: true,
    },
];

/// The device named exactly `name`.
pub fn find(name: &str) -> Option<Device> {
    DEVICES.iter().find(|d| d.name == name).cloned()
}

/// Every name known here (for error hints and tests).
pub fn names() -> impl Iterator<Item = &'static str> {
    DEVICES.iter().map(|d| d.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_devices_are_known_by_their_exact_names() {
        let iphone = find("iPhone 15").unwrap();
        assert_eq!((iphone.viewport, iphone.screen, iphone.device_scale_factor), ((393, 659), (393, 852), 3.0));
        assert!(iphone.is_mobile && iphone.has_touch);
        let desktop = find("Desktop Chrome").unwrap();
        assert_eq!(desktop.viewport, (1280, 720));
        assert!(!desktop.is_mobile && !desktop.has_touch);
        assert!(find("Pixel 7 landscape").is_some());
        assert!(find("iphone 15").is_none(), "names are case-sensitive, as upstream");
        let mut seen = std::collections::HashSet::new();
        assert!(names().all(|n| seen.insert(n)), "names are unique");
    }
}
