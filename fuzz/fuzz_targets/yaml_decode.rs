//! `YAML.decode` of any bytes as a script would call it on a request body: it
//! returns a value or throws, and never takes the process down (deep nesting
//! and nested aliases are refused before they are built).
#![no_main]

use proxy_js::{Host, HostOptions, Source};

thread_local! {
    static CHECK: std::cell::RefCell<Option<(proxy_core::Program, Host)>> = const { std::cell::RefCell::new(None) };
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    CHECK.with(|c| {
        let mut c = c.borrow_mut();
        let (program, _host) = c.get_or_insert_with(|| {
            let script = "pipy().pipeline('decode').replaceMessage(m => { \
                try { YAML.decode(m.body); return new Message('ok'); } catch (e) { return new Message('err'); } })";
            Host::load(&Source::Eval(script.into()), &HostOptions::default()).expect("the script loads")
        });
        let layout = program.modules[0].pipelines.iter().find(|(n, _)| n.contains("decode")).unwrap().1.clone();
        let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let o = out.clone();
        let p = proxy_core::Pipeline::new(
            &layout,
            proxy_core::Context::new(None),
            proxy_core::Sink::Func(Box::new(move |ev| o.borrow_mut().push(ev))),
        );
        for ev in proxy_core::Message::new(proxy_core::Head::None, data.to_vec()).into_events() {
            p.input(ev);
        }
        let answered = out.borrow().iter().any(|e| matches!(e, proxy_core::Event::Data(d) if d.len() <= 3));
        assert!(answered, "the callback answered");
    });
});
