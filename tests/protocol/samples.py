"""Verbatim event samples from flowdock-protocol.md §3.3, as Python data.

Each constant is the sample exactly as quoted in the doc (JSON null/true/false -> None/True/False);
`ALL_SAMPLES` maps the constant names to the objects.  Other tests may reuse them; treat them as
read-only (copy before mutating).
"""

from __future__ import annotations

from typing import Any

# official docs docs/message-types.md: message
DOC_MESSAGE: dict[str, Any] = {
    "app": "chat",
    "event": "message",
    "tags": [],
    "uuid": "4W_LQEybVaX-gJmi",
    "id": 45590,
    "flow": "deadbeefdeadbeef",
    "content": "Hello World",
    "sent": 1317715340213,
    "attachments": [],
    "user": "2",
    "created_at": "2011-10-04T08:02:20.213Z",
}

# official docs: comment
DOC_COMMENT: dict[str, Any] = {
    "app": "chat",
    "sent": 1317722877378,
    "uuid": "O-8aGb0fcc5gEgTX",
    "tags": ["influx:3838422"],
    "flow": "deadbeefdeadbeef",
    "id": 3838423,
    "event": "comment",
    "content": {"title": "Title of parent", "text": "This is a comment"},
    "user": "1609",
    "attachments": [],
    "created_at": "2011-10-04T10:07:57.378Z",
}

# official docs: message-edit
DOC_MESSAGE_EDIT: dict[str, Any] = {
    "app": None,
    "sent": 1317397425508,
    "uuid": None,
    "tags": [],
    "flow": "deadbeefdeadbeef",
    "id": 1236,
    "event": "message-edit",
    "content": {"message": 1234, "updated_content": "foo bar"},
    "user": "18",
    "attachments": [],
    "created_at": "2011-09-30T15:44:45.507Z",
}

# official docs: activity.user
DOC_ACTIVITY_USER: dict[str, Any] = {
    "event": "activity.user",
    "tags": [],
    "uuid": None,
    "id": 45592,
    "flow": "deadbeefdeadbeef",
    "content": {"last_activity": 1317715364447},
    "sent": 1317715393030,
    "app": None,
    "attachments": [],
    "user": "2",
    "created_at": "2011-10-04T08:03:13.029Z",
}

# official docs: tag-change
DOC_TAG_CHANGE: dict[str, Any] = {
    "app": None,
    "sent": 1317397485508,
    "uuid": "odHapx1VWp7WTrdQ",
    "tags": [],
    "flow": "deadbeefdeadbeef",
    "id": 1235,
    "event": "tag-change",
    "content": {"message": 1234, "add": ["foo", "bar"], "remove": ["test"]},
    "user": "18",
    "attachments": [],
    "created_at": "2011-09-30T15:44:45.507Z",
}

# blog 2012-02-16 JSON stream capture, line 1
BLOG_MESSAGE_1: dict[str, Any] = {
    "event": "message",
    "tags": [],
    "uuid": "pWkb-CPeyFG66ns-",
    "id": 142790,
    "flow": "example:main",
    "content": "hello world",
    "sent": 1329307314476,
    "app": "chat",
    "attachments": [],
    "user": "1",
}

# blog 2012-02-16 JSON stream capture, line 2
BLOG_MESSAGE_2: dict[str, Any] = {
    "event": "message",
    "tags": [],
    "uuid": "uk7TFsf75WEJbWsy",
    "id": 142791,
    "flow": "example:main",
    "content": "test",
    "sent": 1329307316726,
    "app": "chat",
    "attachments": [],
    "user": "1",
}

# Go library source comment capture: message
GO_MESSAGE: dict[str, Any] = {
    "event": "message",
    "tags": [],
    "uuid": "GfcU296O-g6rdUU4",
    "id": 11295,
    "flow": "0adc400f-ca1c-434b-81ee-c932f4fba2dd",
    "content": "cool no hurries",
    "sent": 1412938667994,
    "app": "chat",
    "attachments": [],
    "user": "106208",
}

# Go library source comment capture: activity.user
GO_ACTIVITY_USER: dict[str, Any] = {
    "event": "activity.user",
    "tags": [],
    "uuid": None,
    "persist": False,
    "id": 11301,
    "flow": "0adc400f-ca1c-434b-81ee-c932f4fba2dd",
    "content": {"last_activity": 1412938720917},
    "sent": 1412938741475,
    "app": None,
    "attachments": [],
    "user": "104062",
}

# oulu presence_event.json (top-level user_id, no user)
OULU_PRESENCE: dict[str, Any] = {
    "event": "presence",
    "content": {"user_id": 1, "state": 2000000, "updated_at": "2015-05-27T13:09:38.780Z"},
    "user_id": 1,
}

# oulu flow_add_event.json (int user, no id)
OULU_FLOW_ADD: dict[str, Any] = {
    "user": 1,
    "event": "flow-add",
    "content": {"id": "irc:ottotest", "name": "Ottotest", "organization": "Irc", "open": True},
}

# oulu flow_remove_event.json
OULU_FLOW_REMOVE: dict[str, Any] = {
    "user": 1,
    "event": "flow-remove",
    "content": {"id": "irc:ottotest"},
}

# oulu block_event.json (content = user id string)
OULU_BLOCK: dict[str, Any] = {
    "id": 12992,
    "flow": "irc:ottotest",
    "event": "backend.user.block",
    "sent": 1334315215757,
    "attachments": [],
    "user": "1",
    "content": "50000",
    "tags": [],
}

# oulu line_event.json
OULU_LINE: dict[str, Any] = {
    "id": 252,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "line",
    "sent": 1334314587840,
    "attachments": [],
    "uuid": "WTDT1XCiCnH7I1HT",
    "user": "1",
    "content": "test",
    "tags": [],
}

# oulu private_message.json
OULU_PRIVATE_MESSAGE: dict[str, Any] = {
    "id": 907,
    "app": "chat",
    "to": "50000",
    "event": "message",
    "sent": 1334660642345,
    "attachments": [],
    "uuid": "KE1tqxXhhmNMVkKC",
    "user": "1",
    "content": "private test",
    "tags": [],
}

# oulu message_from_external_user_event.json
OULU_EXTERNAL_USER_MESSAGE: dict[str, Any] = {
    "id": 907,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "message",
    "sent": 1334660642345,
    "attachments": [],
    "uuid": "KE1tqxXhhmNMVkKC",
    "external_user_name": "Robot",
    "content": "test",
    "tags": [],
}

# oulu add_people_event.json
OULU_ACTION_ADD_PEOPLE: dict[str, Any] = {
    "id": 13030,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "action",
    "sent": 1334316764585,
    "attachments": [],
    "uuid": "Wm6hMP7SibCKh1ok",
    "user": "1",
    "content": {"type": "add_people", "message": ["test", "foobar"]},
    "tags": [],
}

# oulu join_event.json
OULU_ACTION_JOIN: dict[str, Any] = {
    "id": 12959,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "action",
    "sent": 1334313892830,
    "attachments": [],
    "user": "99999",
    "content": {"type": "join", "id": "cdb631ba375095e101d946a73d4098ceb663c3f2-ottotest"},
    "tags": [],
}

# oulu message_edit_event_for_comment.json
OULU_MESSAGE_EDIT_COMMENT: dict[str, Any] = {
    "event": "message-edit",
    "tags": [],
    "uuid": None,
    "id": 1905,
    "flow": "irc:ottotest",
    "content": {
        "message": 1904,
        "updated_content": {"title": "test", "text": "test comment edited"},
    },
    "sent": 1358961185617,
    "app": None,
    "attachments": [],
    "user": "1",
}

# oulu comment_event.json
OULU_COMMENT: dict[str, Any] = {
    "id": 17080,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "comment",
    "sent": 1334571666856,
    "attachments": [],
    "uuid": "TcBTroWnOzy8GsoB",
    "user": "1",
    "content": {"text": "test", "title": "Team inbox item's title"},
    "tags": ["influx:12931"],
}

# oulu threaded message sample
OULU_THREAD_MESSAGE_2012: dict[str, Any] = {
    "thread_id": "L3AnpcexMyWSkRDYPznxvE7xnI7",
    "id": 907,
    "app": "chat",
    "flow": "irc:ottotest",
    "event": "message",
    "sent": 1334660642345,
    "attachments": [],
    "uuid": "KE1tqxXhhmNMVkKC",
    "user": "1",
    "content": "test",
    "tags": [],
    "thread": {
        "body": "",
        "external_url": "",
        "status": None,
        "fields": [],
        "actions": [],
        "created_at": "2012-04-17T11:04:02.345Z",
        "title": "test",
        "initial_message": 907,
        "internal_comments": 1,
    },
}

# oulu file_event_private.json
OULU_FILE_PRIVATE: dict[str, Any] = {
    "event": "file",
    "tags": [":file"],
    "to": "50000",
    "id": 153462,
    "content": {
        "content_type": "text/x-ruby-script",
        "file_name": "globe.rb",
        "file_size": 1920,
        "path": "/private/1/2/files/Sse2n5VKLlLeafMsjFLuxA/globe.rb",
    },
    "sent": 1335262325981,
    "app": "chat",
    "attachments": [
        {
            "content_type": "text/x-ruby-script",
            "path": "/private/1/2/files/Sse2n5VKLlLeafMsjFLuxA/globe.rb",
            "file_name": "globe.rb",
            "file_size": 1920,
        }
    ],
    "user": "1",
}

# oulu email_event.json (team inbox mail)
OULU_EMAIL: dict[str, Any] = {
    "id": 2182,
    "app": "influx",
    "flow": "irc:ottotest",
    "event": "mail",
    "sent": 1334734837866,
    "attachments": [],
    "user": "0",
    "content": {
        "subject": "This is the email subject",
        "replyTo": [],
        "to": [{"name": None, "address": "test2@nodeta.tuntivirta.com"}],
        "contentType": "text/plain; charset=ISO-8859-1",
        "from": [{"name": "Arttu Tervo", "address": "arttu.tervo@gmail.com"}],
        "bcc": [],
        "content": "influx comments with irc",
        "sender": None,
        "cc": [],
    },
    "tags": [],
}

# oulu thread_message_event.json (2014)
OULU_THREAD_MESSAGE: dict[str, Any] = {
    "thread_id": "Eg46ehQSRpWW5XSoX2tFm-t55Sk",
    "event": "message",
    "tags": [],
    "uuid": "i0es3sERpq0HPSbS",
    "thread": {
        "body": None,
        "source": {
            "application": {
                "name": "Oulu Test app",
                "url": "http://www.flowdock.com/oauth/applications/471",
                "published": False,
                "id": 471,
                "icon_url": "https://d2cxspbh1aoie1.cloudfront.net/assets/icons/application-placeholder-a1c2342065f21099dd4fe3044e18ea2f.png",
                "_links": {
                    "setup": {"href": "http://www.flowdock.com/rest/applications/471/setup"}
                },
            },
            "name": "Test source",
            "url": "https://api.flowdock.com/flows/sinkohippa/sinkohippa/sources/228",
            "id": 228,
            "created_at": "2014-11-12T12:33:49.818Z",
            "updated_at": "2014-11-12T12:33:49.818Z",
            "_links": {},
        },
        "external_url": None,
        "external_comments": 6,
        "activities": 4,
        "id": "Eg46ehQSRpWW5XSoX2tFm-t55Sk",
        "flow": "irc:ottotest",
        "status": None,
        "fields": [],
        "actions": [],
        "created_at": "2014-11-12T12:37:34.000Z",
        "title": "Test acticity",
        "updated_at": "2014-11-14T06:07:39.484Z",
        "initial_message": 388467,
        "internal_comments": 2,
    },
    "id": 389043,
    "flow": "irc:ottotest",
    "content": "And I'm commenting to this",
    "sent": 1415945259489,
    "app": "chat",
    "attachments": [],
    "user": "11586",
}

# jellyfish new-message-with-emoji-reaction/01.json (thread.created_at int)
JF_MESSAGE: dict[str, Any] = {
    "thread_id": "UnT2upC78QYpTODOr-ZCOA3nJkV",
    "event": "message",
    "tags": [],
    "uuid": "cbPDsieFpB1xCRhM",
    "thread": {
        "body": "",
        "external_url": None,
        "external_comments": 0,
        "activities": 0,
        "id": "UnT2upC78QYpTODOr-ZCOA3nJkV",
        "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
        "status": None,
        "fields": [],
        "actions": [],
        "created_at": 1569252944983,
        "title": "foo",
        "updated_at": "2019-09-23T15:35:44.983Z",
        "initial_message": 113617,
        "internal_comments": 1,
    },
    "id": 113617,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": "foo",
    "sent": 1569252944983,
    "app": "chat",
    "created_at": "2019-09-23T15:35:44.983Z",
    "attachments": [],
    "emojiReactions": {},
    "user": "345062",
}

# jellyfish new-message-with-emoji-reaction/02.json
JF_EMOJI_ADD: dict[str, Any] = {
    "event": "emoji-reaction",
    "tags": [],
    "uuid": None,
    "id": 113618,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": {"message": 113617, "emoji": "grinning", "type": "add"},
    "sent": 1569252956383,
    "app": None,
    "created_at": "2019-09-23T15:35:56.383Z",
    "attachments": [],
    "emojiReactions": {},
    "user": "345062",
}

# jellyfish new-message-with-reaction-from-another-user-and-undo/03.json
JF_EMOJI_REMOVE: dict[str, Any] = {
    "event": "emoji-reaction",
    "tags": [],
    "uuid": None,
    "id": 113629,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": {"message": 113627, "emoji": "jellyfish", "type": "remove"},
    "sent": 1569253538197,
    "app": None,
    "created_at": "2019-09-23T15:45:38.197Z",
    "attachments": [],
    "emojiReactions": {},
    "user": "263186",
}

# jellyfish new-message-with-reply-and-delete-reply/03.json
JF_DELETE_REPLY: dict[str, Any] = {
    "event": "message-edit",
    "tags": [],
    "uuid": None,
    "persist": False,
    "id": 113573,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": {"message": 113572, "updated_content": ""},
    "sent": 1569246355067,
    "app": None,
    "created_at": "2019-09-23T13:45:55.067Z",
    "edited": None,
    "attachments": [],
    "emojiReactions": {},
    "user": "263186",
}

# jellyfish new-message-pinging-user-and-sees-the-message/01.json
JF_MENTION: dict[str, Any] = {
    "thread_id": "l5s1THMXqKJeCEVrgx-OZNWvLHK",
    "event": "message",
    "tags": [":user:263186", ":unread:263186"],
    "uuid": "keEWccZKFWQ55A8B",
    "id": 113639,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": "hi @testbot ",
    "sent": 1569254965787,
    "app": "chat",
    "created_at": "2019-09-23T16:09:25.787Z",
    "attachments": [],
    "emojiReactions": {},
    "user": "345062",
}

# jellyfish new-message-pinging-user-and-sees-the-message/02.json
JF_MENTION_READ: dict[str, Any] = {
    "event": "tag-change",
    "tags": [],
    "uuid": None,
    "id": 113640,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": {"message": 113639, "add": [], "remove": [":unread:263186"]},
    "sent": 1569255011853,
    "app": None,
    "created_at": "2019-09-23T16:10:11.853Z",
    "attachments": [],
    "emojiReactions": {},
    "user": "263186",
}

# jellyfish new-message-with-image-attachment/01.json
JF_IMAGE: dict[str, Any] = {
    "thread_id": "U1h0s7fqGVqIxYj1euzRTZm-KFM",
    "event": "file",
    "tags": [":file"],
    "uuid": "HmFsMuwzzL-pnn7s",
    "id": 113579,
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "content": {
        "path": "/files/151242/K9XxJNPNdgafnXIigYTkRA/Screenshot 2019-09-23 at 17.01.48.png",
        "file_name": "Screenshot 2019-09-23 at 17.01.48.png",
        "image": {"width": 64, "height": 134},
        "file_size": 15557,
        "content_type": "image/png",
        "content_disposition": "inline; "
        "filename*=UTF-8''Screenshot%202019-09-23%20at%2017.01.48.png",
    },
    "sent": 1569247347598,
    "app": "chat",
    "created_at": "2019-09-23T14:02:27.598Z",
    "edited": None,
    "attachments": [
        {
            "path": "/files/151242/K9XxJNPNdgafnXIigYTkRA/Screenshot 2019-09-23 at 17.01.48.png",
            "file_name": "Screenshot 2019-09-23 at 17.01.48.png",
            "image": {"width": 64, "height": 134},
            "file_size": 15557,
            "content_type": "image/png",
            "content_disposition": "inline; "
            "filename*=UTF-8''Screenshot%202019-09-23%20at%2017.01.48.png",
        }
    ],
    "emojiReactions": {},
    "user": "345062",
}

# REST GET /flows/rulemotion/testing/messages/113671 stub (thread.created_at null)
REST_MESSAGE: dict[str, Any] = {
    "user": "345062",
    "content": "hello @testbot",
    "event": "message",
    "edited": 1570096222929,
    "emojiReactions": {},
    "tags": [":user:263186", ":unread:263186"],
    "id": 113671,
    "sent": 1570096207646,
    "attachments": [],
    "uuid": "XQgQlWdXMvanPtPb",
    "thread_id": "W2nMNAI98F-gDqKqJIkolkn2H86",
    "app": "chat",
    "thread": {
        "id": "W2nMNAI98F-gDqKqJIkolkn2H86",
        "title": "hello",
        "body": "",
        "external_url": None,
        "status": None,
        "actions": [],
        "fields": [],
        "source": None,
        "activities": 0,
        "internal_comments": 0,
        "external_comments": 0,
        "updated_at": None,
        "created_at": None,
        "initial_message": 113671,
    },
    "flow": "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8",
    "created_at": "2019-10-03T09:50:07.645Z",
    "edited_at": "2019-10-03T09:50:22.928Z",
}

# broid simple.json (flow and user replaced by objects)
BROID_SIMPLE: dict[str, Any] = {
    "thread_id": "BZV2sTH0NTHG3CqndDheLShGbTS",
    "event": "message",
    "tags": [],
    "uuid": "tyrlEyqNePcTc3Et",
    "thread": {
        "body": "",
        "external_url": None,
        "external_comments": 0,
        "activities": 0,
        "id": "BZV2sTH0NTHG3CqndDheLShGbTS",
        "flow": "bd9b6be2-f2b9-4918-ae6d-370aa68e3f5a",
        "status": None,
        "fields": [],
        "actions": [],
        "created_at": 1485039531281,
        "title": "hello world",
        "updated_at": "2017-01-21T22:58:51.281Z",
        "initial_message": 85,
        "internal_comments": 1,
    },
    "id": 85,
    "flow": {
        "id": "bd9b6be2-f2b9-4918-ae6d-370aa68e3f5a",
        "name": "Main",
        "parameterized_name": "main",
        "email": "main@ambot.flowdock.com",
        "description": "The Main flow is for organization-wide discussions.",
        "url": "https://api.flowdock.com/flows/ambot/main",
        "web_url": "https://www.flowdock.com/app/ambot/main",
        "access_mode": "organization",
        "flow_admin": True,
        "api_token": "<redacted>",
        "open": True,
        "joined": True,
        "last_message_at": "2017-01-21T07:12:24.868Z",
        "last_message_id": 83,
        "team_notifications": True,
        "organization": {
            "active": True,
            "id": 79887,
            "name": "Issam Ambot",
            "parameterized_name": "ambot",
            "url": "https://api.flowdock.com/organizations/ambot",
            "user_count": 2,
            "user_limit": 0,
            "flow_admins": False,
        },
        "join_url": "https://www.flowdock.com/invitations/37fbc2a88d06f1fe12391dc0177424cf691fa42a",
    },
    "content": "hello world",
    "sent": 1485039531281,
    "app": "chat",
    "created_at": "2017-01-21T22:58:51.281Z",
    "attachments": [],
    "user": {
        "id": 236036,
        "nick": "Marc",
        "email": "",
        "avatar": "https://d2cxspbh1aoie1.cloudfront.net/avatars/3d017e47e066e14ec2081317ab388820/",
        "name": "Marc Boui",
        "website": "https://plus.google.com/1025599918841162114463",
        "disabled": False,
        "team_notifications": True,
        "in_flow": True,
        "status": None,
        "flow_admin": True,
        "last_activity": 0,
        "last_ping": 0,
    },
}

ALL_SAMPLES: dict[str, dict[str, Any]] = {
    "DOC_MESSAGE": DOC_MESSAGE,
    "DOC_COMMENT": DOC_COMMENT,
    "DOC_MESSAGE_EDIT": DOC_MESSAGE_EDIT,
    "DOC_ACTIVITY_USER": DOC_ACTIVITY_USER,
    "DOC_TAG_CHANGE": DOC_TAG_CHANGE,
    "BLOG_MESSAGE_1": BLOG_MESSAGE_1,
    "BLOG_MESSAGE_2": BLOG_MESSAGE_2,
    "GO_MESSAGE": GO_MESSAGE,
    "GO_ACTIVITY_USER": GO_ACTIVITY_USER,
    "OULU_PRESENCE": OULU_PRESENCE,
    "OULU_FLOW_ADD": OULU_FLOW_ADD,
    "OULU_FLOW_REMOVE": OULU_FLOW_REMOVE,
    "OULU_BLOCK": OULU_BLOCK,
    "OULU_LINE": OULU_LINE,
    "OULU_PRIVATE_MESSAGE": OULU_PRIVATE_MESSAGE,
    "OULU_EXTERNAL_USER_MESSAGE": OULU_EXTERNAL_USER_MESSAGE,
    "OULU_ACTION_ADD_PEOPLE": OULU_ACTION_ADD_PEOPLE,
    "OULU_ACTION_JOIN": OULU_ACTION_JOIN,
    "OULU_MESSAGE_EDIT_COMMENT": OULU_MESSAGE_EDIT_COMMENT,
    "OULU_COMMENT": OULU_COMMENT,
    "OULU_THREAD_MESSAGE_2012": OULU_THREAD_MESSAGE_2012,
    "OULU_FILE_PRIVATE": OULU_FILE_PRIVATE,
    "OULU_EMAIL": OULU_EMAIL,
    "OULU_THREAD_MESSAGE": OULU_THREAD_MESSAGE,
    "JF_MESSAGE": JF_MESSAGE,
    "JF_EMOJI_ADD": JF_EMOJI_ADD,
    "JF_EMOJI_REMOVE": JF_EMOJI_REMOVE,
    "JF_DELETE_REPLY": JF_DELETE_REPLY,
    "JF_MENTION": JF_MENTION,
    "JF_MENTION_READ": JF_MENTION_READ,
    "JF_IMAGE": JF_IMAGE,
    "REST_MESSAGE": REST_MESSAGE,
    "BROID_SIMPLE": BROID_SIMPLE,
}
