// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Follows natterd's rooms the way a GNOME Shell extension would: a
// Gio.DBusObjectManagerClient lists the room objects, then reports new message objects
// and MessageReceived signals; after N messages it answers in the last message's room
// through the Room interface and exits. Prints one JSON object per line.
//
// Usage: gjs follow-rooms.js N

const { Gio, GLib } = imports.gi;

const BUS_NAME = 'io.github.natter.Natter.Daemon';
const ROOT_PATH = '/io/github/natter/Chat';
const ROOM_IFACE = 'io.github.natter.Chat.Room';
const MESSAGE_IFACE = 'io.github.natter.Chat.Message';

const wanted = parseInt(ARGV[0] ?? '1');
const loop = new GLib.MainLoop(null, false);
let status = 1;
let received = 0;

function emit(object) {
    print(JSON.stringify(object));
}

function prop(proxy, name) {
    const value = proxy.get_cached_property(name);
    return value ? value.deepUnpack() : null;
}

function fail(message) {
    emit({event: 'error', message});
    loop.quit();
}

const manager = Gio.DBusObjectManagerClient.new_for_bus_sync(Gio.BusType.SESSION,
    Gio.DBusObjectManagerClientFlags.NONE, BUS_NAME, ROOT_PATH, null, null);

const rooms = [];
for (const object of manager.get_objects()) {
    const room = object.get_interface(ROOM_IFACE);
    if (room) {
        rooms.push({
            path: object.get_object_path(),
            name: prop(room, 'Name'),
            kind: prop(room, 'Kind'),
            lastSeq: Number(prop(room, 'LastSeq')),
            members: prop(room, 'Members'),
        });
    }
}
rooms.sort((a, b) => a.name.localeCompare(b.name));
emit({event: 'ready', rooms});

manager.connect('object-added', (_manager, object) => {
    const message = object.get_interface(MESSAGE_IFACE);
    if (message) {
        emit({
            event: 'object',
            path: object.get_object_path(),
            room: prop(message, 'Room'),
            seq: Number(prop(message, 'Seq')),
            sender: prop(message, 'Sender'),
            body: prop(message, 'Body'),
        });
    }
});

manager.connect('interface-proxy-signal', (_manager, object, proxy, _sender, signal, params) => {
    if (proxy.get_interface_name() !== ROOM_IFACE || signal !== 'MessageReceived')
        return;
    const [seq, timestamp, sender, body, kind, path] = params.deepUnpack();
    emit({
        event: 'message',
        room: prop(proxy, 'Name'),
        seq: Number(seq),
        timestamp: Number(timestamp),
        sender, body, kind, path,
    });
    received++;
    if (received !== wanted)
        return;

    proxy.call('Send', new GLib.Variant('(s)', ['reply from gjs']), Gio.DBusCallFlags.NONE,
        -1, null, (source, result) => {
            try {
                const [sent] = source.call_finish(result).deepUnpack();
                emit({event: 'sent', room: prop(proxy, 'Name'), seq: Number(sent)});
                status = 0;
            } catch (e) {
                emit({event: 'error', message: e.message});
            }
            loop.quit();
        });
});

GLib.timeout_add_seconds(GLib.PRIORITY_DEFAULT, 60, () => {
    fail('timed out');
    return GLib.SOURCE_REMOVE;
});

loop.run();
imports.system.exit(status);
